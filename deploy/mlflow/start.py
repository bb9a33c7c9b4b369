"""Start the MLflow server, first making its artifact bucket when the
artifact store is S3-compatible (MLFLOW_S3_ENDPOINT_URL set), so that the
stack needs no separate S3 client image. Arguments go to `mlflow server`."""
import os
import sys

import boto3
import botocore.exceptions

bucket = os.environ.get("MLFLOW_ARTIFACTS_BUCKET", "mlflow")
endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL")
if endpoint:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    try:
        s3.create_bucket(Bucket=bucket)
        print(f"created bucket {bucket}", flush=True)
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
os.execvp("mlflow", ["mlflow", "server", *sys.argv[1:]])
