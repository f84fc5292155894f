#!/usr/bin/env bash
# Deploys the upload pipeline to a running Stratus with the aws CLI alone:
#
#   upload to s3://incoming ─→ S3 notification ─→ SQS queue `uploads` ─→ function `ingest`
#     ─→ table `files` ─→ its stream ─→ function `audit` ─→ table `audit`
#   rule `nightly` (cron, 03:00 UTC) ─→ function `nightly` ─→ table `reports`
#
# Messages that keep failing go to the dead-letter queue `uploads-dlq` after 3 receives.
# Safe to run again (functions get the new code, the rest is kept).
#
#   STRATUS_ENDPOINT  the server (default http://127.0.0.1:4566)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
endpoint="${STRATUS_ENDPOINT:-${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
account=000000000000
region="$AWS_DEFAULT_REGION"
aws() { command aws --endpoint-url "$endpoint" --output text "$@"; }

echo "== the functions' role: read uploads, write the tables, consume the queue and the stream"
role="arn:aws:iam::$account:role/pipeline"
if ! aws iam get-role --role-name pipeline >/dev/null 2>&1; then
    aws iam create-role --role-name pipeline --assume-role-policy-document \
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}' >/dev/null
fi
for policy in AWSLambdaBasicExecutionRole AWSLambdaSQSQueueExecutionRole AWSLambdaDynamoDBExecutionRole; do
    aws iam attach-role-policy --role-name pipeline \
        --policy-arn "arn:aws:iam::aws:policy/service-role/$policy"
done
aws iam put-role-policy --role-name pipeline --policy-name data --policy-document \
    "{\"Version\":\"2012-10-17\",\"Statement\":[
      {\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::incoming/*\"},
      {\"Effect\":\"Allow\",\"Action\":[\"dynamodb:PutItem\",\"dynamodb:Scan\"],
       \"Resource\":[\"arn:aws:dynamodb:$region:$account:table/files\",
                     \"arn:aws:dynamodb:$region:$account:table/audit\",
                     \"arn:aws:dynamodb:$region:$account:table/reports\"]}]}"

echo "== tables: files (with a stream), audit, reports"
table() {  # name, key, [stream view]
    aws dynamodb describe-table --table-name "$1" >/dev/null 2>&1 && return
    aws dynamodb create-table --table-name "$1" --billing-mode PAY_PER_REQUEST \
        --attribute-definitions "AttributeName=$2,AttributeType=S" \
        --key-schema "AttributeName=$2,KeyType=HASH" \
        ${3:+--stream-specification "StreamEnabled=true,StreamViewType=$3"} >/dev/null
}
table files key NEW_AND_OLD_IMAGES
table audit id
table reports day

echo "== functions"
deploy() {  # name, directory
    local zip
    zip="$(mktemp -d)/$1.zip"
    (cd "$here/$2" && python3 -m zipfile -c "$zip" app.py)
    if aws lambda get-function --function-name "$1" >/dev/null 2>&1; then
        aws lambda update-function-code --function-name "$1" --zip-file "fileb://$zip" >/dev/null
    else
        aws lambda create-function --function-name "$1" --runtime python3.12 \
            --handler app.handler --role "$role" --timeout 30 --zip-file "fileb://$zip" >/dev/null
    fi
    aws lambda wait function-active-v2 --function-name "$1"
}
deploy ingest ingest
deploy audit audit
deploy nightly nightly

echo "== queues: uploads, with uploads-dlq behind it; S3 may send to uploads"
dlq_url="$(aws sqs create-queue --queue-name uploads-dlq)"
dlq_arn="$(aws sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn --query Attributes.QueueArn)"
queue_url="$(aws sqs create-queue --queue-name uploads --attributes \
    "{\"VisibilityTimeout\":\"60\",\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"$dlq_arn\\\",\\\"maxReceiveCount\\\":\\\"3\\\"}\"}")"
queue_arn="$(aws sqs get-queue-attributes --queue-url "$queue_url" --attribute-names QueueArn --query Attributes.QueueArn)"
aws sqs set-queue-attributes --queue-url "$queue_url" --attributes \
    "{\"Policy\":\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":{\\\"Service\\\":\\\"s3.amazonaws.com\\\"},\\\"Action\\\":\\\"sqs:SendMessage\\\",\\\"Resource\\\":\\\"$queue_arn\\\",\\\"Condition\\\":{\\\"ArnLike\\\":{\\\"aws:SourceArn\\\":\\\"arn:aws:s3:::incoming\\\"}}}]}\"}"

echo "== bucket incoming, notifying the queue of every upload"
aws s3api head-bucket --bucket incoming 2>/dev/null || aws s3api create-bucket --bucket incoming >/dev/null
aws s3api put-bucket-notification-configuration --bucket incoming --notification-configuration \
    "{\"QueueConfigurations\":[{\"QueueArn\":\"$queue_arn\",\"Events\":[\"s3:ObjectCreated:*\"]}]}"

echo "== event source mappings: the queue → ingest, the files stream → audit"
mapping() {  # function, source ARN, extra arguments...
    local fn="$1" source="$2"
    shift 2
    if [ -z "$(aws lambda list-event-source-mappings --function-name "$fn" \
            --event-source-arn "$source" --query 'EventSourceMappings[].UUID')" ]; then
        aws lambda create-event-source-mapping --function-name "$fn" \
            --event-source-arn "$source" "$@" >/dev/null
    fi
}
mapping ingest "$queue_arn" --batch-size 10 --function-response-types ReportBatchItemFailures
stream_arn="$(aws dynamodb describe-table --table-name files --query Table.LatestStreamArn)"
mapping audit "$stream_arn" --starting-position TRIM_HORIZON --batch-size 100

echo "== the nightly rule: 03:00 UTC → nightly"
rule_arn="$(aws events put-rule --name nightly --schedule-expression 'cron(0 3 * * ? *)')"
nightly_arn="$(aws lambda get-function-configuration --function-name nightly --query FunctionArn)"
aws lambda remove-permission --function-name nightly --statement-id events-nightly >/dev/null 2>&1 || true
aws lambda add-permission --function-name nightly --statement-id events-nightly \
    --action lambda:InvokeFunction --principal events.amazonaws.com --source-arn "$rule_arn" >/dev/null
aws events put-targets --rule nightly --targets "Id=nightly,Arn=$nightly_arn" >/dev/null
echo "ready: upload a file to s3://incoming/ and watch the files and audit tables"
