//! The generated data the dashboards test indexes beside the bundled samples: CloudTrail events
//! for what the public samples lack, and S3 access-log files.

use crate::fixtures::{access_line, event, iam_user};
use serde_json::{Value, json};

pub const THROTTLING: [&str; 9] = [
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "Client.RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
];

/// Generated events, each with the CIS tag (or other panel) it is meant to show up in.
pub fn supplement() -> Vec<(Value, &'static str)> {
    let t = |h: u32| format!("2024-08-04T{h:02}:15:00Z");
    let root = json!({"type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root",
        "accountId": "111122223333"});
    let ops = iam_user("operator", "AKIASUPPLEMENT00001");
    let api = |id: &str, h: u32, name: &str, source: &str, who: &Value| {
        event(id, &t(h), name, source, "88.12.1.9", who.clone(), json!({}))
    };
    let failed = |id: &str, h: u32, name: &str, source: &str, code: &str| {
        event(
            id,
            &t(h),
            name,
            source,
            "18.1.2.3",
            ops.clone(),
            json!({"errorCode": code, "errorMessage": "Rate exceeded"}),
        )
    };
    let login = |id: &str, who: Value, outcome: &str, mfa: &str| {
        event(
            id,
            &t(9),
            "ConsoleLogin",
            "signin.amazonaws.com",
            "81.2.69.160",
            who,
            json!({"eventType": "AwsConsoleSignIn", "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) \
                AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
                "responseElements": {"ConsoleLogin": outcome}, "additionalEventData": {"MFAUsed": mfa}}),
        )
    };
    let sg = |id: &str, h: u32, name: &str, request: Value| {
        event(id, &t(h), name, "ec2.amazonaws.com", "88.12.1.9", ops.clone(), json!({"requestParameters": request}))
    };
    let mut root_login_failure = login("sup-root-login-failed", root.clone(), "Failure", "No");
    root_login_failure["errorMessage"] = json!("Failed authentication");
    // Sixteen days of one read a day before: the operator's history, so the writes below are
    // new to it (the behavioural detections).
    let history = (15..=30).map(|day| {
        let time = format!("2024-07-{day:02}T12:00:00Z");
        let read = json!({"readOnly": true});
        (
            event(
                &format!("sup-history-{day}"),
                &time,
                "DescribeRegions",
                "ec2.amazonaws.com",
                "88.12.1.9",
                ops.clone(),
                read,
            ),
            "history",
        )
    });
    history.collect::<Vec<_>>().into_iter().chain([
        (api("sup-root-summary", 8, "GetAccountSummary", "iam.amazonaws.com", &root), "root_activity"),
        (root_login_failure, "console_login_failure"),
        (login("sup-login-nomfa", ops.clone(), "Success", "No"), "console_login_without_mfa"),
        (api("sup-kms-disable", 10, "DisableKey", "kms.amazonaws.com", &ops), "kms_key_disable_or_delete"),
        (api("sup-kms-delete", 10, "ScheduleKeyDeletion", "kms.amazonaws.com", &ops), "kms_key_disable_or_delete"),
        (api("sup-s3-policy", 11, "PutBucketPolicy", "s3.amazonaws.com", &ops), "s3_bucket_policy_change"),
        (api("sup-s3-acl", 11, "PutBucketAcl", "s3.amazonaws.com", &ops), "s3_bucket_policy_change"),
        (api("sup-config-stop", 12, "StopConfigurationRecorder", "config.amazonaws.com", &ops), "config_change"),
        (api("sup-nacl", 13, "CreateNetworkAclEntry", "ec2.amazonaws.com", &ops), "network_acl_change"),
        (api("sup-igw", 13, "AttachInternetGateway", "ec2.amazonaws.com", &ops), "gateway_change"),
        (api("sup-route", 14, "CreateRoute", "ec2.amazonaws.com", &ops), "route_table_change"),
        (api("sup-vpc", 14, "CreateVpc", "ec2.amazonaws.com", &ops), "vpc_change"),
        (api("sup-terminate", 15, "TerminateInstances", "ec2.amazonaws.com", &ops), "instance"),
        (
            failed("sup-throttle-ssm", 16, "DescribeInstanceInformation", "ssm.amazonaws.com", "ThrottlingException"),
            "throttled",
        ),
        (
            failed("sup-throttle-ec2", 16, "DescribeInstances", "ec2.amazonaws.com", "Client.RequestLimitExceeded"),
            "throttled",
        ),
        (failed("sup-throttle-lambda", 17, "Invoke", "lambda.amazonaws.com", "TooManyRequestsException"), "throttled"),
        (
            sg(
                "sup-sg-22",
                18,
                "AuthorizeSecurityGroupIngress",
                json!({"groupId": "sg-1", "cidrIp": "0.0.0.0/0",
            "ipProtocol": "tcp", "fromPort": 22, "toPort": 22}),
            ),
            "world",
        ),
        (
            sg(
                "sup-sg-all",
                18,
                "AuthorizeSecurityGroupIngress",
                json!({"groupId": "sg-2", "ipPermissions": {"items": [
            {"ipProtocol": "-1", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
            ),
            "world",
        ),
        (
            sg(
                "sup-sg-443",
                19,
                "ModifySecurityGroupRules",
                json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-3",
            "SecurityGroupRule": [
                {"SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                    "CidrIpv4": "10.0.0.0/8"}},
                {"SecurityGroupRuleId": "sgr-2", "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 443,
                    "ToPort": 443, "CidrIpv6": "::/0"}}]}}),
            ),
            "world",
        ),
        (
            event(
                "sup-s3-download",
                &t(20),
                "GetObject",
                "s3.amazonaws.com",
                "88.12.1.9",
                ops.clone(),
                json!({"eventCategory": "Data", "managementEvent": false, "readOnly": true,
                    "requestParameters": {"bucketName": "amzn-s3-demo-bucket1", "key": "exports/db.dump"},
                    "additionalEventData": {"bytesTransferredIn": 0.0, "bytesTransferredOut": 3221225472.0}}),
            ),
            "large",
        ),
    ])
    .collect()
}

/// The requester put in place of the "one requester's activity" search's placeholder.
pub const SAMPLE_REQUESTER: &str = "arn:aws:iam::111122223333:user/alice";

/// Generated S3 access-log files (file name, text): downloads large and small, a presigned URL
/// carrying the sample access key, anonymous and refused requests, IPv4 and IPv6 remotes (some
/// in the test GeoIP networks), over two days.
pub fn access_logs() -> Vec<(&'static str, String)> {
    #[allow(clippy::too_many_arguments)]
    let line =
        |time: &str,
         ip: &str,
         requester: &str,
         op: &str,
         key: &str,
         status: u16,
         error: &str,
         bytes: u64,
         uri: &str,
         ua: &str| { access_line(time, ip, requester, op, key, status, error, &bytes.to_string(), uri, ua) };
    let get = |key: &str| format!("GET /amzn-s3-demo-bucket1/{key} HTTP/1.1");
    let presigned = format!(
        "GET /amzn-s3-demo-bucket1/exports/db.dump?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={SAMPLE_KEY}\
         %2F20240803%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=ab HTTP/1.1"
    );
    let cli = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0";
    let first = [
        line(
            "03/Aug/2024:10:00:01",
            "81.2.69.160",
            SAMPLE_REQUESTER,
            "REST.GET.OBJECT",
            "exports/db.dump",
            200,
            "-",
            2_147_483_648,
            &presigned,
            cli,
        ),
        line(
            "03/Aug/2024:10:05:00",
            "81.2.69.160",
            SAMPLE_REQUESTER,
            "REST.GET.OBJECT",
            "reports/q2.pdf",
            200,
            "-",
            52_000,
            &get("reports/q2.pdf"),
            cli,
        ),
        line(
            "03/Aug/2024:11:00:00",
            "198.51.100.4",
            "-",
            "REST.GET.OBJECT",
            "public/a%2Bb.txt",
            403,
            "AccessDenied",
            243,
            &get("public/a%2Bb.txt"),
            "curl/8.5.0",
        ),
        line(
            "03/Aug/2024:11:00:05",
            "198.51.100.4",
            "-",
            "REST.GET.OBJECT",
            "public/index.html",
            200,
            "-",
            1_024,
            &get("public/index.html"),
            "curl/8.5.0",
        ),
    ]
    .join("\n");
    let bob = "arn:aws:iam::111122223333:user/bob";
    let second = [
        line(
            "04/Aug/2024:09:00:00",
            "2a00:1450:4001:82a::200e",
            bob,
            "REST.GET.OBJECT",
            "big.iso",
            200,
            "-",
            5_368_709_120,
            &get("big.iso"),
            cli,
        ),
        line(
            "04/Aug/2024:09:00:01",
            "2a00:1450:4001:82a::200e",
            bob,
            "REST.HEAD.OBJECT",
            "gone",
            404,
            "NoSuchKey",
            0,
            "HEAD /amzn-s3-demo-bucket1/gone HTTP/1.1",
            cli,
        ),
        line(
            "04/Aug/2024:09:30:00",
            "35.249.253.232",
            "arn:aws:sts::111122223333:assumed-role/app/i-1",
            "REST.PUT.OBJECT",
            "in/x.json",
            200,
            "-",
            0,
            "PUT /amzn-s3-demo-bucket1/in/x.json HTTP/1.1",
            "aws-sdk-go/1.50.0 (go1.22.0; linux; amd64)",
        ),
        line(
            "04/Aug/2024:09:31:00",
            "203.0.113.8",
            SAMPLE_REQUESTER,
            "REST.GET.OBJECT",
            "reports/q2.pdf",
            403,
            "AccessDenied",
            243,
            &get("reports/q2.pdf"),
            cli,
        ),
    ]
    .join("\n");
    vec![("2024-08-03-10-10-00-0123456789ABCDEF", first + "\n"), ("2024-08-04-10-10-00-ABCDEF0123456789", second)]
}

/// A real key from the samples, put in place of the editable search's placeholder.
pub const SAMPLE_KEY: &str = "AKIAW9X2Q2U25SK79UCX";
