//! Notification parsing against every real sample in `tests/fixtures/notifications/`.
//! Samples wrapped in a Lambda event (`Records[].body` for SQS, `Records[].Sns` for SNS) are
//! unwrapped to what an SQS consumer receives: the body, or the SNS envelope.

use super::*;
use serde_json::json;

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/notifications/", $path))
    };
}

fn obj(bucket: &str, key: &str, size: Option<u64>) -> ObjectRef {
    ObjectRef { bucket: bucket.into(), key: key.into(), size }
}

/// The SQS bodies inside a Lambda SQS event.
fn sqs_bodies(lambda_event: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(lambda_event).unwrap();
    v["Records"].as_array().unwrap().iter().map(|r| r["body"].as_str().unwrap().to_owned()).collect()
}

/// The SNS envelope inside a Lambda SNS event, as SNS delivers it to SQS.
fn sns_envelope(lambda_event: &str) -> Value {
    let v: Value = serde_json::from_str(lambda_event).unwrap();
    v["Records"][0]["Sns"].clone()
}

#[test]
fn direct_s3_object_created_with_url_encoded_keys() {
    for body in [
        fixture!("aws-lambda-go/s3-event.json"),
        fixture!("aws-lambda-go/s3-event-with-decoded.json"),
        fixture!("powertools/s3EventDecodedKey.json"),
    ] {
        assert_eq!(
            parse(body).unwrap(),
            Notification::Objects(vec![obj("sourcebucket", "Happy Face.jpg", Some(1024))])
        );
    }
    let n = parse(fixture!("powertools/s3Event.json")).unwrap();
    assert_eq!(
        n,
        Notification::Objects(vec![obj(
            "lambda-artifacts-deafc19498e3f2df",
            "b21b84d653bb07b05b1e6b33684dc11b",
            Some(1305107)
        )])
    );
    assert!(
        matches!(parse(fixture!("powertools/s3EventGlacier.json")).unwrap(), Notification::Objects(o) if o.len() == 1)
    );
}

#[test]
fn other_s3_events_are_ignored_not_errors() {
    for body in [
        fixture!("aws-lambda-go/s3-glacier-event.json"),
        fixture!("aws-lambda-go/s3-intelligenttier-event.json"),
        fixture!("aws-lambda-go/s3-lifecycle-event.json"),
        fixture!("aws-lambda-go/s3-replication-event.json"),
        fixture!("aws-lambda-go/s3-restore-event.json"),
        fixture!("powertools/s3EventDeleteObject.json"),
    ] {
        assert!(matches!(parse(body).unwrap(), Notification::Ignored(names) if names.len() == 1), "{body}");
    }
    let n = parse(fixture!("powertools/s3EventDeleteObject.json")).unwrap();
    assert_eq!(n, Notification::Ignored(vec!["ObjectRemoved:Delete".into()]));
}

#[test]
fn eventbridge_object_created_and_others() {
    let n = parse(fixture!("powertools/s3EventBridgeNotificationObjectCreatedEvent.json")).unwrap();
    assert_eq!(n, Notification::Objects(vec![obj("example-bucket", "IMG_m7fzo3.jpg", Some(184662))]));
    for body in [
        fixture!("powertools/s3EventBridgeNotificationObjectDeletedEvent.json"),
        fixture!("powertools/s3EventBridgeNotificationObjectExpiredEvent.json"),
        fixture!("powertools/s3EventBridgeNotificationObjectRestoreCompletedEvent.json"),
    ] {
        assert!(matches!(parse(body).unwrap(), Notification::Ignored(_)));
    }
}

#[test]
fn sqs_body_holding_an_s3_event() {
    let bodies = sqs_bodies(fixture!("powertools/s3SqsEvent.json"));
    assert_eq!(parse(&bodies[0]).unwrap(), Notification::Objects(vec![obj("xxx", "test.pdf", Some(104681))]));
}

#[test]
fn sns_envelope_around_an_s3_event_and_a_test_event() {
    // A real SNS envelope whose Message is replaced by a real S3 notification, as SNS sends it.
    let mut env = sns_envelope(fixture!("aws-lambda-go/sns-event.json"));
    env["Message"] = json!(fixture!("powertools/s3Event.json"));
    let n = parse(&env.to_string()).unwrap();
    assert!(matches!(n, Notification::Objects(ref o) if o[0].key == "b21b84d653bb07b05b1e6b33684dc11b"));

    env["Message"] =
        json!(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-01T00:00:00.000Z","Bucket":"b"}"#);
    assert_eq!(parse(&env.to_string()).unwrap(), Notification::TestEvent);
}

#[test]
fn sns_and_sqs_payloads_that_are_not_s3_notifications_are_errors() {
    // Left on the queue so the redrive policy can move them to the DLQ: never silently deleted.
    let sns = sns_envelope(fixture!("aws-lambda-go/sns-event.json"));
    assert!(matches!(parse(&sns.to_string()), Err(NotificationError::Json(_))), "Message 'Hello from SNS!'");
    let sns = sns_envelope(fixture!("powertools/snsEvent.json"));
    assert!(parse(&sns.to_string()).is_err());
    for f in [fixture!("powertools/snsSqsEvent.json"), fixture!("powertools/snsSqsFifoEvent.json")] {
        for body in sqs_bodies(f) {
            assert!(matches!(parse(&body), Err(NotificationError::Unrecognised(_))), "{body}");
        }
    }
    for f in [fixture!("aws-lambda-go/sqs-event.json"), fixture!("powertools/sqsEvent.json")] {
        for body in sqs_bodies(f) {
            assert!(parse(&body).is_err(), "{body}");
        }
    }
    // S3 Object Lambda events are not notifications either.
    assert!(parse(fixture!("powertools/s3ObjectEventIAMUser.json")).is_err());
    assert!(parse(fixture!("powertools/s3ObjectEventTempCredentials.json")).is_err());
}

#[test]
fn test_event_is_recognised() {
    // As moto and S3 send it when the bucket notification is configured.
    let body =
        r#"{"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-21T15:46:40.291Z", "Bucket": "ct-logs"}"#;
    assert_eq!(parse(body).unwrap(), Notification::TestEvent);
}

#[test]
fn one_message_may_name_several_objects_and_mix_event_types() {
    let body = json!({"Records": [
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "AWSLogs%2F1%2FCloudTrail%2Fa+b.json.gz", "size": 3}}},
        {"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "b"}, "object": {"key": "x"}}},
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:CompleteMultipartUpload", "s3": {"bucket": {"name": "b"}, "object": {"key": "c%2Bd"}}}
    ]});
    assert_eq!(
        parse(&body.to_string()).unwrap(),
        Notification::Objects(vec![obj("b", "AWSLogs/1/CloudTrail/a b.json.gz", Some(3)), obj("b", "c+d", None)])
    );
}

#[test]
fn cloudtrail_sns_delivery_notice() {
    let body = r#"{"s3Bucket":"trail-bucket","s3ObjectKey":["AWSLogs/1/CloudTrail/us-east-1/2024/01/01/a.json.gz","AWSLogs/1/CloudTrail/us-east-1/2024/01/01/b.json.gz"]}"#;
    let Notification::Objects(o) = parse(body).unwrap() else { panic!("objects expected") };
    assert_eq!(o.len(), 2);
    assert_eq!(o[1].key, "AWSLogs/1/CloudTrail/us-east-1/2024/01/01/b.json.gz");
}

#[test]
fn malformed_bodies_are_errors() {
    assert!(matches!(parse("not json"), Err(NotificationError::Json(_))));
    assert!(matches!(parse("[1,2]"), Err(NotificationError::Unrecognised(_))));
    assert!(matches!(
        parse(r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{}}]}"#),
        Err(NotificationError::Unrecognised(_))
    ));
    assert!(matches!(url_decode_key("%FF%FE"), Err(NotificationError::BadKey(_))));
}

#[test]
fn what_a_sender_wrote_is_repeated_escaped_on_one_line_and_cut() {
    // Found by the notification fuzz target: field names holding newlines went into the error.
    let body = serde_json::json!({"a\nforged log line": 1, "x".repeat(500): 2}).to_string();
    let e = parse(&body).unwrap_err().to_string();
    assert!(!e.contains('\n') && e.contains(r#""a\nforged log line""#), "{e}");
    assert!(e.len() < 200, "long names are cut: {e}");
    let records = serde_json::json!({"Records": [{"eventSource": "aws:sqs\r\nx", "s3": {}}]}).to_string();
    let e = parse(&records).unwrap_err().to_string();
    assert!(!e.contains('\n') && !e.contains('\r'), "{e}");
}

#[test]
fn an_sns_envelope_is_unwrapped_once_not_twice() {
    // SNS never wraps its own envelope; one inside another is a sender's construction, not a
    // delivery: an error, not a fetch of whatever the innermost body names.
    let mut inner = sns_envelope(fixture!("aws-lambda-go/sns-event.json"));
    inner["Message"] = json!(fixture!("powertools/s3Event.json"));
    let mut outer = sns_envelope(fixture!("aws-lambda-go/sns-event.json"));
    outer["Message"] = json!(inner.to_string());
    assert!(matches!(parse(&outer.to_string()), Err(NotificationError::Unrecognised(_))));
}

#[test]
fn eventbridge_events_from_other_services_or_without_a_detail_type_are_errors() {
    // An EC2 event sent to the queue by a misrouted rule is left for the dead-letter queue, not
    // deleted as an S3 event that created nothing.
    let ec2 = json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification",
        "detail": {"instance-id": "i-1", "state": "running"}});
    assert!(matches!(parse(&ec2.to_string()), Err(NotificationError::Unrecognised(_))));
    let no_type = json!({"source": "aws.s3", "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}});
    assert!(matches!(parse(&no_type.to_string()), Err(NotificationError::Unrecognised(_))));
}
