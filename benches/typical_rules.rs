//! Sixty CloudTrail detection rules of the kinds detection engineers write (written for this
//! benchmark, not copied from a rule repository): mostly an `eventSource` with a few
//! `eventName`s, many narrowed by a request parameter, an identity type, an error code or a user
//! agent, some with a filter, a few keyed on a name prefix. The benchmark loads them beside the
//! built-in rules to measure ingest with detection on.

/// One rule: title, level, event source, event names (`*` allowed), further selection lines
/// (`field|modifier: value` in YAML), and a filter's lines (the condition becomes
/// `selection and not filter`).
type Spec = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

const SPECS: &[Spec] = &[
    ("IAM user created", "low", "iam", &["CreateUser"], &[], &[]),
    ("IAM user deleted", "medium", "iam", &["DeleteUser"], &[], &[]),
    ("Console password set for a user", "medium", "iam", &["CreateLoginProfile", "UpdateLoginProfile"], &[], &[]),
    (
        "Administrator policy attached",
        "high",
        "iam",
        &["AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy"],
        &["requestParameters.policyArn|endswith: '/AdministratorAccess'"],
        &[],
    ),
    ("Access key deleted", "low", "iam", &["DeleteAccessKey"], &[], &[]),
    ("Role trust policy changed", "medium", "iam", &["UpdateAssumeRolePolicy"], &[], &[]),
    ("Role created", "low", "iam", &["CreateRole"], &[], &["userIdentity.invokedBy|endswith: '.amazonaws.com'"]),
    ("Inline policy put", "medium", "iam", &["PutUserPolicy", "PutRolePolicy", "PutGroupPolicy"], &[], &[]),
    ("MFA device removed", "high", "iam", &["DeactivateMFADevice", "DeleteVirtualMFADevice"], &[], &[]),
    (
        "SAML provider changed",
        "high",
        "iam",
        &["CreateSAMLProvider", "UpdateSAMLProvider", "DeleteSAMLProvider"],
        &[],
        &[],
    ),
    (
        "Password policy weakened",
        "medium",
        "iam",
        &["UpdateAccountPasswordPolicy", "DeleteAccountPasswordPolicy"],
        &[],
        &[],
    ),
    ("Session token for an IAM user", "low", "sts", &["GetSessionToken"], &["userIdentity.type: IAMUser"], &[]),
    ("Role assumption denied", "low", "sts", &["AssumeRole"], &["errorCode|contains: AccessDenied"], &[]),
    ("Federation token issued", "medium", "sts", &["GetFederationToken"], &[], &[]),
    (
        "Caller identity checked from a scripting tool",
        "informational",
        "sts",
        &["GetCallerIdentity"],
        &["userAgent|contains:\n            - python\n            - curl\n            - Go-http-client"],
        &[],
    ),
    ("Console login failed", "low", "signin", &["ConsoleLogin"], &["responseElements.ConsoleLogin: Failure"], &[]),
    ("Console sign-in token requested", "medium", "signin", &["GetSigninToken"], &[], &[]),
    ("Root console login", "high", "signin", &["ConsoleLogin"], &["userIdentity.type: Root"], &[]),
    (
        "GPU instances launched",
        "high",
        "ec2",
        &["RunInstances"],
        &[
            "requestParameters.instanceType|startswith:\n            - p3\n            - p4\n            - g5\n            - x2",
        ],
        &[],
    ),
    (
        "Instance user data changed",
        "high",
        "ec2",
        &["ModifyInstanceAttribute"],
        &["requestParameters.userData|exists: true"],
        &[],
    ),
    ("Key pair created or imported", "low", "ec2", &["CreateKeyPair", "ImportKeyPair"], &[], &[]),
    ("VPC flow logs deleted", "high", "ec2", &["DeleteFlowLogs"], &[], &[]),
    (
        "Snapshot shared",
        "high",
        "ec2",
        &["ModifySnapshotAttribute"],
        &["requestParameters.createVolumePermission.add|exists: true"],
        &[],
    ),
    (
        "AMI shared",
        "high",
        "ec2",
        &["ModifyImageAttribute"],
        &["requestParameters.launchPermission.add|exists: true"],
        &[],
    ),
    ("EBS default encryption disabled", "high", "ec2", &["DisableEbsEncryptionByDefault"], &[], &[]),
    ("Windows password data requested", "medium", "ec2", &["GetPasswordData"], &[], &[]),
    (
        "VPC peering created or accepted",
        "medium",
        "ec2",
        &["CreateVpcPeeringConnection", "AcceptVpcPeeringConnection"],
        &[],
        &[],
    ),
    ("Egress rule added", "low", "ec2", &["AuthorizeSecurityGroupEgress"], &[], &[]),
    (
        "Traffic mirroring set up",
        "high",
        "ec2",
        &["CreateTrafficMirrorSession", "CreateTrafficMirrorTarget", "CreateTrafficMirrorFilter"],
        &[],
        &[],
    ),
    ("Instance exported", "high", "ec2", &["CreateInstanceExportTask", "ExportImage"], &[], &[]),
    ("Serial console access enabled", "medium", "ec2", &["EnableSerialConsoleAccess"], &[], &[]),
    (
        "Bucket logging removed",
        "medium",
        "s3",
        &["PutBucketLogging"],
        &["requestParameters.BucketLoggingStatus|exists: false"],
        &[],
    ),
    (
        "Bucket versioning suspended",
        "medium",
        "s3",
        &["PutBucketVersioning"],
        &["requestParameters.VersioningConfiguration.Status: Suspended"],
        &[],
    ),
    ("Bucket deleted", "medium", "s3", &["DeleteBucket"], &[], &[]),
    ("Bucket replication configured", "medium", "s3", &["PutBucketReplication"], &[], &[]),
    ("Bucket lifecycle changed", "low", "s3", &["PutBucketLifecycle", "DeleteBucketLifecycle"], &[], &[]),
    ("Bucket encryption removed", "high", "s3", &["DeleteBucketEncryption"], &[], &[]),
    (
        "Buckets listed by a scripting tool",
        "low",
        "s3",
        &["ListBuckets"],
        &["userAgent|contains:\n            - python\n            - curl"],
        &[],
    ),
    ("KMS key policy changed", "medium", "kms", &["PutKeyPolicy"], &[], &[]),
    ("KMS grant created", "low", "kms", &["CreateGrant"], &[], &["userIdentity.invokedBy|endswith: '.amazonaws.com'"]),
    ("Lambda function code changed", "medium", "lambda", &["CreateFunction*", "UpdateFunctionCode*"], &[], &[]),
    (
        "Lambda made invocable by anyone",
        "high",
        "lambda",
        &["AddPermission*"],
        &["requestParameters.principal: '*'"],
        &[],
    ),
    (
        "Lambda layer added",
        "medium",
        "lambda",
        &["UpdateFunctionConfiguration*"],
        &["requestParameters.layers|exists: true"],
        &[],
    ),
    (
        "RDS master password changed",
        "medium",
        "rds",
        &["ModifyDBInstance"],
        &["requestParameters.masterUserPassword|exists: true"],
        &[],
    ),
    (
        "RDS restored as public",
        "high",
        "rds",
        &["RestoreDBInstanceFromDBSnapshot"],
        &["requestParameters.publiclyAccessible: 'true'"],
        &[],
    ),
    (
        "RDS snapshot shared",
        "high",
        "rds",
        &["ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute"],
        &["requestParameters.attributeName: restore"],
        &[],
    ),
    (
        "Secret read",
        "informational",
        "secretsmanager",
        &["GetSecretValue"],
        &[],
        &["userIdentity.invokedBy|endswith: '.amazonaws.com'"],
    ),
    ("Secret deleted", "medium", "secretsmanager", &["DeleteSecret"], &[], &[]),
    ("SSM command sent", "medium", "ssm", &["SendCommand"], &[], &[]),
    ("SSM session started", "low", "ssm", &["StartSession"], &[], &[]),
    (
        "Decrypted parameters read",
        "low",
        "ssm",
        &["GetParameter", "GetParameters"],
        &["requestParameters.withDecryption: 'true'"],
        &[],
    ),
    ("Trail event selectors changed", "medium", "cloudtrail", &["PutEventSelectors", "PutInsightSelectors"], &[], &[]),
    ("Config recording stopped", "high", "config", &["StopConfigurationRecorder", "DeleteDeliveryChannel"], &[], &[]),
    (
        "GuardDuty weakened",
        "high",
        "guardduty",
        &["UpdateDetector", "DeleteMembers", "DisassociateFromMasterAccount", "CreateFilter"],
        &[],
        &[],
    ),
    (
        "Security Hub findings suppressed",
        "medium",
        "securityhub",
        &["BatchUpdateFindings", "DisableSecurityHub", "DeleteInsight"],
        &[],
        &[],
    ),
    ("Account left the organization", "high", "organizations", &["LeaveOrganization"], &[], &[]),
    (
        "Domain transfer lock removed",
        "high",
        "route53domains",
        &["DisableDomainTransferLock", "TransferDomainToAnotherAwsAccount"],
        &[],
        &[],
    ),
    ("ECS task definition registered", "low", "ecs", &["RegisterTaskDefinition"], &[], &[]),
    ("EKS cluster created or deleted", "low", "eks", &["CreateCluster", "DeleteCluster"], &[], &[]),
    (
        "Bedrock model access probed",
        "low",
        "bedrock",
        &["GetFoundationModelAvailability", "ListFoundationModels", "GetUseCaseForModelAccess"],
        &[],
        &[],
    ),
];

/// The rules as Sigma YAML documents, one per spec.
pub fn typical_rules() -> Vec<(String, String)> {
    SPECS
        .iter()
        .enumerate()
        .map(|(n, (title, level, service, names, extra, filter))| {
            let mut yaml = format!(
                "title: {title}\nid: 5b1c0000-0000-4000-8000-{n:012}\nstatus: test\ndescription: Benchmark rule.\n\
                 logsource:\n    product: aws\n    service: cloudtrail\ndetection:\n    selection:\n        \
                 eventSource: {service}.amazonaws.com\n        eventName:\n"
            );
            for name in *names {
                yaml += &format!("            - '{name}'\n");
            }
            for line in *extra {
                yaml += &format!("        {line}\n");
            }
            let condition = if filter.is_empty() {
                "selection"
            } else {
                yaml += "    filter:\n";
                for line in *filter {
                    yaml += &format!("        {line}\n");
                }
                "selection and not filter"
            };
            yaml += &format!("    condition: {condition}\nfalsepositives:\n    - Administration\nlevel: {level}\n");
            (format!("bench_{n:02}.yml"), yaml)
        })
        .collect()
}
