"""Makes a thumbnail of every image uploaded to the `uploads` bucket.

For each S3 event record: read the image, shrink it to fit THUMBNAIL_SIZE (keeping its aspect
ratio), write it as JPEG to the thumbnails bucket, record the image's metadata in the images
table, and ask the profile function (asynchronously) to point the user's profile at the new
picture. Uploads under `users/<name>/` belong to that user. When TOPIC_ARN is set (the SAM
template sets it), each thumbnail is also announced on that SNS topic.
"""

import io
import json
import os
import time
import urllib.parse

import boto3
from PIL import Image

THUMBNAIL_BUCKET = os.environ.get("THUMBNAIL_BUCKET", "thumbnails")
IMAGES_TABLE = os.environ.get("IMAGES_TABLE", "images")
PROFILE_FUNCTION = os.environ.get("PROFILE_FUNCTION", "profile-updater")
SIZE = int(os.environ.get("THUMBNAIL_SIZE", "128"))
TOPIC_ARN = os.environ.get("TOPIC_ARN")

# Clients are made once per execution environment and reused by warm invocations.
s3 = boto3.client("s3")
images = boto3.resource("dynamodb").Table(IMAGES_TABLE)
functions = boto3.client("lambda")
sns = boto3.client("sns") if TOPIC_ARN else None


def handler(event, context):
    made = [thumbnail(record["s3"]) for record in event["Records"]]
    return {"thumbnails": made}


def thumbnail(s3_record):
    bucket = s3_record["bucket"]["name"]
    key = urllib.parse.unquote_plus(s3_record["object"]["key"])
    original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    image = Image.open(io.BytesIO(original))
    width, height, source_format = image.width, image.height, image.format
    image.thumbnail((SIZE, SIZE))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    thumb_key = key.rsplit(".", 1)[0] + ".jpg"
    s3.put_object(
        Bucket=THUMBNAIL_BUCKET,
        Key=thumb_key,
        Body=out.getvalue(),
        ContentType="image/jpeg",
    )

    user = key.split("/")[1] if key.startswith("users/") and key.count("/") >= 2 else "anonymous"
    item = {
        "image": f"{bucket}/{key}",
        "user": user,
        "format": source_format,
        "width": width,
        "height": height,
        "bytes": len(original),
        "thumbnail": f"{THUMBNAIL_BUCKET}/{thumb_key}",
        "thumbnail_width": image.width,
        "thumbnail_height": image.height,
        "uploaded_at": int(time.time()),
    }
    images.put_item(Item=item)
    functions.invoke(
        FunctionName=PROFILE_FUNCTION,
        InvocationType="Event",
        Payload=json.dumps({"user": user, "picture": item["thumbnail"], "image": item["image"]}),
    )
    if sns is not None:
        sns.publish(
            TopicArn=TOPIC_ARN,
            Subject="thumbnail made",
            Message=json.dumps({k: item[k] for k in ("image", "user", "thumbnail")}),
        )
    print(f"thumbnail {item['thumbnail']} ({image.width}x{image.height}) for {item['image']}")
    return item["thumbnail"]
