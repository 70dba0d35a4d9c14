"""Signs a captured request again with botocore (the AWS SDK for Python), at the request's
own x-amz-date, and prints the Authorization header botocore computes. The AWS tests compare
it with what Sluice sent: a request AWS itself would accept signs the same.

stdin: {"method", "url", "headers" (lower-case names, as received), "body",
        "access_key_id", "secret_access_key", "session_token" (or null), "region", "service"}
"""

import datetime
import json
import sys
from unittest import mock

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

r = json.load(sys.stdin)
sent = r["headers"]
signed = sent["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
# botocore adds these itself (host from the URL, the date from the frozen clock).
own = {"host", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}
headers = {k: sent[k] for k in signed if k not in own}
request = AWSRequest(method=r["method"], url=r["url"], headers=headers, data=r["body"].encode())
credentials = Credentials(r["access_key_id"], r["secret_access_key"], r.get("session_token"))
auth = (S3SigV4Auth if r["service"] == "s3" else SigV4Auth)(credentials, r["service"], r["region"])
at = datetime.datetime.strptime(sent["x-amz-date"], "%Y%m%dT%H%M%SZ")
with mock.patch("botocore.auth.get_current_datetime", return_value=at):
    auth.add_auth(request)
print(request.headers["Authorization"])
