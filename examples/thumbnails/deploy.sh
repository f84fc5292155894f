#!/usr/bin/env bash
# Deploys the thumbnail example to a running Stratus: two functions, two tables, two buckets,
# and the upload trigger. Safe to run again (functions are updated, the rest is kept).
#
#   STRATUS_ENDPOINT  the server (default http://127.0.0.1:4566)
#   STRATUS           the stratus binary (default: `stratus` on PATH, else this checkout's
#                     target/release/stratus)
#   RUNTIME           the functions' python runtime (default python3.12)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
endpoint="${STRATUS_ENDPOINT:-${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}}"
stratus="${STRATUS:-$(command -v stratus || echo "$root/target/release/stratus")}"
export STRATUS_ENDPOINT="$endpoint"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
aws() { command aws --endpoint-url "$endpoint" --output text "$@"; }

runtime="${RUNTIME:-python3.12}"

echo "== packaging the thumbnail function with Pillow for $runtime"
build="$here/build/thumbnail"
rm -rf "$build" && mkdir -p "$build"
# As AWS's guide packages it: Pillow's binary wheel for the runtime's python version, whatever
# python runs pip.
python3 -m pip install --quiet --disable-pip-version-check --target "$build" \
    --python-version "${runtime#python}" --implementation cp --only-binary=:all: \
    --platform "manylinux_2_28_$(uname -m)" --platform "manylinux2014_$(uname -m)" pillow
cp "$here/thumbnail/app.py" "$build/"

echo "== deploying the functions"
"$stratus" deploy "$build" --name thumbnail --runtime "$runtime" --handler app.handler \
    --memory 512 --timeout 30
"$stratus" deploy "$here/profile" --name profile-updater --runtime "$runtime" \
    --handler app.handler --memory 128 --timeout 10

echo "== tables: images (one item per upload) and profiles (one item per user)"
table() {
    aws dynamodb describe-table --table-name "$1" >/dev/null 2>&1 ||
        aws dynamodb create-table --table-name "$1" --billing-mode PAY_PER_REQUEST \
            --attribute-definitions "AttributeName=$2,AttributeType=S" \
            --key-schema "AttributeName=$2,KeyType=HASH" >/dev/null
}
table images image
table profiles user

echo "== buckets, and uploads/ triggering the thumbnail function"
for bucket in uploads thumbnails; do
    aws s3api head-bucket --bucket "$bucket" 2>/dev/null || aws s3api create-bucket --bucket "$bucket" >/dev/null
done
arn="$(aws lambda get-function-configuration --function-name thumbnail --query FunctionArn)"
# As on AWS, S3 may invoke the function only once its policy allows it for this bucket.
aws lambda remove-permission --function-name thumbnail --statement-id s3-uploads >/dev/null 2>&1 || true
aws lambda add-permission --function-name thumbnail --statement-id s3-uploads \
    --action lambda:InvokeFunction --principal s3.amazonaws.com \
    --source-arn arn:aws:s3:::uploads --source-account 000000000000 >/dev/null
aws s3api put-bucket-notification-configuration --bucket uploads --notification-configuration \
    "{\"LambdaFunctionConfigurations\":[{\"LambdaFunctionArn\":\"$arn\",\"Events\":[\"s3:ObjectCreated:*\"]}]}"
echo "ready: upload an image to s3://uploads/users/<name>/"
