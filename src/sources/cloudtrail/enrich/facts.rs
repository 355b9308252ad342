//! The handful of record fields enrichment reads, gathered while the document writer walks the
//! record, and what follows from them: the actor (`user.*`) and the outcome (`event.outcome`).
//! Pure; strings borrow from the record unless they held escapes.

use crate::decode::{Raw, json_string};
use serde::Deserialize;
use std::borrow::Cow;

/// Record fields enrichment needs, borrowed from one record.
#[derive(Debug, Default)]
pub struct Facts<'a> {
    /// `eventName`.
    pub event_name: Option<Cow<'a, str>>,
    /// `eventSource`.
    pub event_source: Option<Cow<'a, str>>,
    /// `eventType`.
    pub event_type: Option<Cow<'a, str>>,
    /// `errorCode` (absent when empty).
    pub error_code: Option<Cow<'a, str>>,
    /// `sourceIPAddress`, as raw JSON (a quoted string).
    pub source_ip: Option<Raw<'a>>,
    /// `userAgent`.
    pub user_agent: Option<Cow<'a, str>>,
    /// `recipientAccountId`, as raw JSON.
    pub account: Option<Raw<'a>>,
    /// The account's name (`cloud.account.name`) as a JSON string literal, when one is known.
    pub account_name: Option<std::sync::Arc<str>>,
    /// `awsRegion`, as raw JSON.
    pub region: Option<Raw<'a>>,
    /// `userIdentity`, raw.
    pub identity: Option<Raw<'a>>,
    /// `requestParameters`, raw.
    pub request: Option<Raw<'a>>,
    /// `responseElements`, raw.
    pub response: Option<Raw<'a>>,
    /// `additionalEventData`, raw.
    pub additional: Option<Raw<'a>>,
}

impl<'a> Facts<'a> {
    /// Takes note of one top-level field.
    pub fn observe(&mut self, key: &str, value: Raw<'a>) {
        let string = || json_string(value);
        let raw_string = || Some(value).filter(|v| v.get().starts_with('"'));
        match key {
            "eventName" => self.event_name = string(),
            "eventSource" => self.event_source = string(),
            "eventType" => self.event_type = string(),
            "errorCode" => self.error_code = string().filter(|c| !c.is_empty()),
            "sourceIPAddress" => self.source_ip = raw_string(),
            "userAgent" => self.user_agent = string().filter(|c| !c.is_empty()),
            "recipientAccountId" => self.account = raw_string(),
            "awsRegion" => self.region = raw_string(),
            "userIdentity" => self.identity = Some(value),
            "requestParameters" => self.request = Some(value),
            "responseElements" => self.response = Some(value),
            "additionalEventData" => self.additional = Some(value),
            _ => {}
        }
    }

    fn is(&self, event_name: &str) -> bool {
        self.event_name.as_deref() == Some(event_name)
    }

    /// `event.outcome`: a failure when the call returned an error code, or when a console
    /// sign-in says so in `responseElements.ConsoleLogin` (failed sign-ins often carry only that).
    pub fn failed(&self) -> bool {
        self.error_code.is_some() || (self.is("ConsoleLogin") && self.console_login().as_deref() == Some("Failure"))
    }

    /// `responseElements.ConsoleLogin` (`Success` / `Failure`).
    pub fn console_login(&self) -> Option<Cow<'a, str>> {
        #[derive(Deserialize)]
        struct Response<'a> {
            #[serde(rename = "ConsoleLogin", borrow)]
            console_login: Option<Cow<'a, str>>,
        }
        let r: Response<'a> = serde_json::from_str(self.response?.get()).ok()?;
        r.console_login
    }

    /// `additionalEventData.MFAUsed == "Yes"`.
    pub fn mfa_used(&self) -> bool {
        #[derive(Deserialize)]
        struct Additional<'a> {
            #[serde(rename = "MFAUsed", borrow)]
            mfa_used: Option<Cow<'a, str>>,
        }
        self.additional
            .and_then(|a| serde_json::from_str::<Additional<'_>>(a.get()).ok())
            .is_some_and(|a| a.mfa_used.as_deref() == Some("Yes"))
    }

    /// The parsed `userIdentity`, if it has the documented shape.
    pub fn identity(&self) -> Option<Identity<'a>> {
        serde_json::from_str(self.identity?.get()).ok()
    }
}

/// The parts of `userIdentity` that name the actor.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity<'a> {
    /// `type`: IAMUser, AssumedRole, Root, AWSService, FederatedUser, …
    #[serde(rename = "type", borrow)]
    pub kind: Option<Cow<'a, str>>,
    /// `userName`.
    #[serde(borrow)]
    pub user_name: Option<Cow<'a, str>>,
    /// `arn`.
    #[serde(borrow)]
    pub arn: Option<Cow<'a, str>>,
    /// `accessKeyId`: the key that signed the call (`aws.access_key_id`).
    #[serde(borrow)]
    pub access_key_id: Option<Cow<'a, str>>,
    /// `principalId`.
    #[serde(borrow)]
    pub principal_id: Option<Cow<'a, str>>,
    /// `accountId`.
    #[serde(borrow)]
    pub account_id: Option<Cow<'a, str>>,
    /// `invokedBy`: the service that made the call for the principal.
    #[serde(borrow)]
    pub invoked_by: Option<Cow<'a, str>>,
    /// `sessionContext.sessionIssuer.userName`, via [`SessionContext`].
    #[serde(borrow)]
    pub session_context: Option<SessionContext<'a>>,
    /// `onBehalfOf.userId` (IAM Identity Center).
    #[serde(borrow)]
    pub on_behalf_of: Option<OnBehalfOf<'a>>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext<'a> {
    /// `sessionIssuer`.
    #[serde(borrow)]
    pub session_issuer: Option<SessionIssuer<'a>>,
}

/// `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer<'a> {
    /// The role (or user) name that issued the session.
    #[serde(borrow)]
    pub user_name: Option<Cow<'a, str>>,
}

/// `userIdentity.onBehalfOf`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnBehalfOf<'a> {
    /// The Identity Center user id.
    #[serde(borrow)]
    pub user_id: Option<Cow<'a, str>>,
}

impl Identity<'_> {
    /// `user.principal`: the identity that owns the history a behaviour is learnt from, the same
    /// for every session: the ARN of a user, root or federated user, an assumed role's ARN
    /// without its session name (`arn:aws:sts::1:assumed-role/Admin`), the service for AWS
    /// services; else the name, then the principal id.
    pub fn principal(&self) -> Option<String> {
        let owned = |c: &Option<Cow<'_, str>>| c.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        let arn = self.arn.as_deref().filter(|a| !a.is_empty());
        match self.kind.as_deref().unwrap_or("") {
            "AssumedRole" => match arn {
                Some(arn) if arn.contains(":assumed-role/") && arn.matches('/').count() >= 2 => {
                    arn.rsplit_once('/').map(|(role, _)| role.to_owned())
                }
                Some(arn) => Some(arn.to_owned()),
                None => {
                    let issuer = self.session_context.as_ref().and_then(|s| s.session_issuer.as_ref());
                    issuer.and_then(|i| owned(&i.user_name))
                }
            },
            "AWSService" => owned(&self.invoked_by),
            "IdentityCenterUser" => {
                owned(&self.user_name).or_else(|| self.on_behalf_of.as_ref().and_then(|o| owned(&o.user_id)))
            }
            _ => arn.map(str::to_owned).or_else(|| self.user_name()).or_else(|| owned(&self.principal_id)),
        }
    }

    /// `user.name`: the human-meaningful actor for every identity type.
    pub fn user_name(&self) -> Option<String> {
        let kind = self.kind.as_deref().unwrap_or("");
        let arn_tail = |marker: &str| {
            let arn = self.arn.as_deref()?;
            let at = arn.find(marker)? + marker.len();
            Some(arn[at..].to_owned()).filter(|t| !t.is_empty())
        };
        let owned = |c: &Option<Cow<'_, str>>| c.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        let issuer = self.session_context.as_ref().and_then(|s| s.session_issuer.as_ref());
        match kind {
            "Root" => Some("root".to_owned()),
            "IAMUser" => owned(&self.user_name).or_else(|| arn_tail(":user/")),
            "AssumedRole" => {
                // arn:aws:sts::<account>:assumed-role/<role>/<session>
                arn_tail(":assumed-role/").or_else(|| issuer.and_then(|i| owned(&i.user_name)))
            }
            "FederatedUser" => arn_tail(":federated-user/")
                .or_else(|| self.principal_id.as_deref().and_then(|p| p.split_once(':')).map(|(_, u)| u.to_owned())),
            "AWSService" => owned(&self.invoked_by),
            "AWSAccount" => owned(&self.account_id).or_else(|| owned(&self.principal_id)),
            "IdentityCenterUser" => {
                owned(&self.user_name).or_else(|| self.on_behalf_of.as_ref().and_then(|o| owned(&o.user_id)))
            }
            _ => owned(&self.user_name)
                .or_else(|| issuer.and_then(|i| owned(&i.user_name)))
                .or_else(|| owned(&self.invoked_by))
                .or_else(|| owned(&self.principal_id)),
        }
    }
}

impl Facts<'_> {
    /// `,"cloud":{"account":{"id":…,"name":…},"region":…}` from the record's account, its name
    /// and the region.
    pub(crate) fn write_cloud(&self, out: &mut Vec<u8>) {
        if self.account.is_none() && self.region.is_none() {
            return;
        }
        out.extend_from_slice(b",\"cloud\":{");
        if let Some(account) = self.account {
            out.extend_from_slice(b"\"account\":{\"id\":");
            out.extend_from_slice(account.get().as_bytes());
            if let Some(name) = &self.account_name {
                out.extend_from_slice(b",\"name\":");
                out.extend_from_slice(name.as_bytes());
            }
            out.push(b'}');
        }
        if let Some(region) = self.region {
            if self.account.is_some() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"region\":");
            out.extend_from_slice(region.get().as_bytes());
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(identity: &str) -> Option<String> {
        serde_json::from_str::<Identity<'_>>(identity).unwrap().user_name()
    }

    #[test]
    fn every_identity_type_names_its_actor() {
        assert_eq!(
            name(r#"{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::1:user/alice"}"#).unwrap(),
            "alice"
        );
        assert_eq!(name(r#"{"type":"IAMUser","arn":"arn:aws:iam::1:user/ops/bob"}"#).unwrap(), "ops/bob");
        assert_eq!(name(r#"{"type":"Root","arn":"arn:aws:iam::1:root"}"#).unwrap(), "root");
        assert_eq!(
            name(
                r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Admin/carol@example.com","sessionContext":{"sessionIssuer":{"userName":"Admin"}}}"#
            )
            .unwrap(),
            "Admin/carol@example.com"
        );
        assert_eq!(
            name(r#"{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"userName":"Admin"}}}"#).unwrap(),
            "Admin"
        );
        assert_eq!(name(r#"{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}"#).unwrap(), "ec2.amazonaws.com");
        assert_eq!(name(r#"{"type":"FederatedUser","arn":"arn:aws:sts::1:federated-user/dave"}"#).unwrap(), "dave");
        assert_eq!(name(r#"{"type":"FederatedUser","principalId":"1:erin"}"#).unwrap(), "erin");
        assert_eq!(name(r#"{"type":"AWSAccount","accountId":"123456789012"}"#).unwrap(), "123456789012");
        assert_eq!(name(r#"{"type":"IdentityCenterUser","onBehalfOf":{"userId":"u-1"}}"#).unwrap(), "u-1");
        assert_eq!(name(r#"{"type":"SAMLUser","userName":"frank"}"#).unwrap(), "frank");
        assert_eq!(name(r#"{"invokedBy":"AWS Internal"}"#).unwrap(), "AWS Internal");
        assert_eq!(name(r#"{"type":"IAMUser"}"#), None);
    }

    #[test]
    fn the_principal_is_the_same_for_every_session_of_a_role() {
        let principal = |identity: &str| serde_json::from_str::<Identity<'_>>(identity).unwrap().principal();
        let role = |session: &str| {
            principal(&format!(r#"{{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Admin/{session}"}}"#))
        };
        assert_eq!(role("carol@example.com").unwrap(), "arn:aws:sts::1:assumed-role/Admin");
        assert_eq!(role("i-0abc"), role("1700000000123"), "a new session name on every call");
        let no_arn = r#"{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"userName":"Admin"}}}"#;
        assert_eq!(principal(no_arn).unwrap(), "Admin");
        let user = r#"{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::1:user/alice"}"#;
        assert_eq!(principal(user).unwrap(), "arn:aws:iam::1:user/alice");
        assert_eq!(principal(r#"{"type":"Root","arn":"arn:aws:iam::1:root"}"#).unwrap(), "arn:aws:iam::1:root");
        assert_eq!(principal(r#"{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}"#).unwrap(), "ec2.amazonaws.com");
        assert_eq!(principal(r#"{"type":"SAMLUser","userName":"frank"}"#).unwrap(), "frank");
        assert_eq!(principal(r#"{"type":"IAMUser"}"#), None);
        // An ARN that names no session is kept whole.
        let odd = |arn: &str| principal(&format!(r#"{{"type":"AssumedRole","arn":"{arn}"}}"#)).unwrap();
        assert_eq!(odd("arn:aws:sts::1:assumed-role/Admin"), "arn:aws:sts::1:assumed-role/Admin");
        assert_eq!(odd("arn:aws:iam::1:role/ops/Admin"), "arn:aws:iam::1:role/ops/Admin");
        // The type decides: a service or an Identity Center user is itself whatever ARN is given.
        let service = r#"{"type":"AWSService","invokedBy":"ec2.amazonaws.com","arn":"arn:aws:iam::1:role/x"}"#;
        assert_eq!(principal(service).unwrap(), "ec2.amazonaws.com");
        assert_eq!(
            name(r#"{"type":"AWSService","invokedBy":"ec2.amazonaws.com","userName":"x"}"#).unwrap(),
            "ec2.amazonaws.com"
        );
        let center = r#"{"type":"IdentityCenterUser","onBehalfOf":{"userId":"u-1"},"arn":"arn:aws:iam::1:role/x"}"#;
        assert_eq!(principal(center).unwrap(), "u-1");
    }

    fn facts_of(record: &str) -> (bool, bool) {
        let ev = crate::decode::RawEvent::parse(record.as_bytes()).unwrap();
        let mut f = Facts::default();
        for (k, v) in &ev.fields {
            f.observe(k, *v);
        }
        (f.failed(), f.mfa_used())
    }

    #[test]
    fn outcome_and_mfa() {
        assert_eq!(facts_of(r#"{"eventName":"RunInstances"}"#), (false, false));
        assert!(facts_of(r#"{"eventName":"RunInstances","errorCode":"Client.UnauthorizedOperation"}"#).0);
        assert!(!facts_of(r#"{"eventName":"X","errorCode":""}"#).0);
        // Only a console sign-in fails by its response.
        assert!(!facts_of(r#"{"eventName":"X","responseElements":{"ConsoleLogin":"Failure"}}"#).0);
        assert_eq!(
            facts_of(r#"{"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Failure"}}"#),
            (true, false)
        );
        assert_eq!(
            facts_of(
                r#"{"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"}}"#
            ),
            (false, true)
        );
    }
}
