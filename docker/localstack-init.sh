#!/bin/sh
# LocalStack ready hook (mounted into /etc/localstack/init/ready.d/): the CloudTrail bucket, the
# notification queue with its dead-letter queue, and the bucket notification that feeds it.
# Names match docker-compose.yml; LocalStack's account is 000000000000.
set -eu
bucket=trailship-demo-cloudtrail
region=us-east-1

awslocal s3api create-bucket --bucket "$bucket" --region "$region" >/dev/null
dlq_url=$(awslocal sqs create-queue --queue-name trailship-dlq --query QueueUrl --output text)
dlq_arn=$(awslocal sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn \
  --query Attributes.QueueArn --output text)
# After 5 failed receives a message moves to the DLQ instead of jamming the queue.
queue_url=$(awslocal sqs create-queue --queue-name trailship --attributes \
  "{\"VisibilityTimeout\":\"300\",\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"$dlq_arn\\\",\\\"maxReceiveCount\\\":\\\"5\\\"}\"}" \
  --query QueueUrl --output text)
queue_arn=$(awslocal sqs get-queue-attributes --queue-url "$queue_url" --attribute-names QueueArn \
  --query Attributes.QueueArn --output text)
awslocal s3api put-bucket-notification-configuration --bucket "$bucket" --notification-configuration \
  "{\"QueueConfigurations\":[{\"QueueArn\":\"$queue_arn\",\"Events\":[\"s3:ObjectCreated:*\"]}]}"
echo "trailship: bucket $bucket notifies $queue_url (dead letters: $dlq_url)"
