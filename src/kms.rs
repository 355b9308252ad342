//! KMS denials told apart from other failures. A GetObject on an SSE-KMS object, or an SQS
//! call on a queue encrypted with a KMS key, fails when the caller may not use the key, with a
//! message naming the KMS action (`kms:Decrypt`) or an SQS `Kms*` error code, and usually the
//! key's ARN. [`denial`] reads that from the error's text; [`Denial`] says it in one line with
//! the fix. Pure.

/// SQS error codes about the queue's KMS key.
const SQS_CODES: [&str; 7] = [
    "KmsAccessDenied",
    "KmsDisabled",
    "KmsNotFound",
    "KmsInvalidState",
    "KmsInvalidKeyUsage",
    "KmsOptInRequired",
    "KMS.AccessDeniedException",
];

/// A call refused because of a KMS key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The key's ARN, when the message names it.
    pub key: Option<String>,
}

/// The denial `text` (an error in one line) describes, if it is one.
pub fn denial(text: &str) -> Option<Denial> {
    let lower = text.to_ascii_lowercase();
    let about_kms = lower.contains("kms:decrypt")
        || lower.contains("kms:generatedatakey")
        || SQS_CODES.iter().any(|c| text.contains(c))
        || (lower.contains("kms") && (lower.contains("accessdenied") || lower.contains("not authorized")));
    about_kms.then(|| Denial { key: key_arn(text) })
}

/// The first KMS key ARN in `text` (`arn:<partition>:kms:<region>:<account>:key/<id>`).
fn key_arn(text: &str) -> Option<String> {
    text.match_indices("arn:").find_map(|(at, _)| {
        let rest = &text[at..];
        let end = rest.find(|c: char| c.is_whitespace() || "\"',;()<>".contains(c)).unwrap_or(rest.len());
        let arn = rest[..end].trim_end_matches(['.', ':']);
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        (parts.len() == 6 && parts[2] == "kms" && parts[5].starts_with("key/")).then(|| arn.to_owned())
    })
}

impl Denial {
    fn key_text(&self) -> String {
        self.key.clone().unwrap_or_else(|| "its KMS key (the error names none)".to_owned())
    }

    /// What a GetObject denial says: the action, the key and the fix.
    pub fn for_object(&self) -> String {
        format!(
            "kms:Decrypt denied on {}: the object is SSE-KMS encrypted and this role may not decrypt with that key; \
             allow kms:Decrypt on it to the role (deploy/iam/worker-policy.json, DecryptSseKmsTrailFilesThroughS3Only) \
             and in the key policy",
            self.key_text()
        )
    }

    /// What a queue call's denial says: the action, the key and the fix.
    pub fn for_queue(&self) -> String {
        format!(
            "kms:Decrypt denied on the queue's key {}: the queue is encrypted with a KMS key this role may not use; \
             allow kms:Decrypt on it to the role (deploy/iam/worker-policy.json, DecryptTheQueueMessages) and in the \
             key policy",
            self.key_text()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn an_s3_access_denied_naming_kms_decrypt_is_a_denial_with_its_key() {
        let s3 = format!(
            "service error: AccessDenied: User: arn:aws:sts::111122223333:assumed-role/trailship/i-0abc is not \
             authorized to perform: kms:Decrypt on resource: {KEY} because no identity-based policy allows the \
             kms:Decrypt action"
        );
        assert_eq!(denial(&s3), Some(Denial { key: Some(KEY.to_owned()) }));
        let d = denial(&s3).unwrap().for_object();
        assert!(d.starts_with(&format!("kms:Decrypt denied on {KEY}: ")) && !d.contains('\n'), "{d}");
    }

    #[test]
    fn sqs_kms_codes_are_denials_even_without_a_key() {
        let sqs = "service error: KmsAccessDenied: The ciphertext refers to a customer master key that does not exist";
        assert_eq!(denial(sqs), Some(Denial { key: None }));
        assert!(denial(sqs).unwrap().for_queue().contains("its KMS key (the error names none)"));
        let with_key = format!("KMS.AccessDeniedException: access denied on ({KEY}).");
        assert_eq!(denial(&with_key).unwrap().key.as_deref(), Some(KEY));
    }

    #[test]
    fn other_failures_are_not_denials() {
        for text in [
            "service error: AccessDenied: Access Denied",
            "service error: NoSuchKey: The specified key does not exist.",
            "dispatch failure: io error: connection refused",
            "service error: AccessDenied: not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k",
        ] {
            assert_eq!(denial(text), None, "{text}");
        }
        assert_eq!(key_arn("arn:aws:kms:us-east-1:1:alias/trail"), None, "an alias is not a key ARN");
    }
}
