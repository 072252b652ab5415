"""SigV4 checked with botocore's own signer: the received request is signed again with the known secret and the
signatures compared.

``Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/<service>/aws4_request,
SignedHeaders=<a;b;c>, Signature=<hex>`` plus ``X-Amz-Date``. Only the headers the client signed are signed again
(botocore signs every header it is given). An unknown key id is ``UnrecognizedClientException``, any other
mismatch (secret, date, path, query, body, a scope for another region) ``InvalidSignatureException``, both 403 as AWS answers them.
The request's age is not checked (a test clock may be anywhere; clients sign with the real one).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from airflow_iot_jobs.emulator.aws import errors
from airflow_iot_jobs.emulator.http import Request

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+"
    r"Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)/aws4_request\s*,\s*"
    r"SignedHeaders=(?P<headers>[^,\s]+)\s*,\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


@dataclass(frozen=True)
class Principal:
    access_key_id: str
    region: str
    service: str


class SigV4Verifier:
    def __init__(self, credentials: Mapping[str, str], region: str) -> None:
        self.credentials = dict(credentials)  # access key id -> secret access key
        self.region = region

    def verify(self, request: Request) -> Principal:
        """The caller, or raise the 403 AWS answers."""
        authorization = request.header("Authorization")
        if not authorization:
            raise errors.missing_token()
        match = _AUTH.match(authorization.strip())
        if match is None:
            raise errors.incomplete_signature(
                f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. "
                f"Authorization={authorization[:120]}"
            )
        key = match.group("key")
        secret = self.credentials.get(key)
        if secret is None:
            raise errors.unrecognized_client()
        if match.group("region") != self.region:
            raise errors.AwsError(
                "InvalidSignatureException", "Credential should be scoped to a valid region.", 403
            )
        amz_date = request.header("X-Amz-Date")
        if not amz_date:
            raise errors.incomplete_signature(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
            )
        signed = match.group("headers").split(";")
        headers = {}
        for name in signed:
            value = request.header(name)
            if value is None:
                raise errors.invalid_signature()
            headers[name] = value
        url = f"http://{request.header('Host') or '127.0.0.1'}{request.path}"
        aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=request.body)
        # botocore sorts and encodes the parameters itself (its client encoded them the same way).
        aws_request.params = dict(request.query)
        aws_request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(key, secret), match.group("service"), match.group("region"))
        if amz_date[:8] != match.group("date"):
            raise errors.invalid_signature()
        canonical = signer.canonical_request(aws_request)
        expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
        if not hmac.compare_digest(expected, match.group("signature")):
            raise errors.invalid_signature()
        return Principal(key, match.group("region"), match.group("service"))
