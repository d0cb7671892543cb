"""Synthetic secrets and clean text for the secrets detector's labelled set and benchmark.

Every key is generated here: the right format (prefix, length, alphabet) with a random body
from a seeded RNG. Nothing is copied from real credentials. `make_cases.py` writes the
labelled set (cases.jsonl); `benchmarks/bench_secrets.py` uses `clean_corpus` and `positive`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid

UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
DIGITS = string.digits
ALNUM = UPPER + LOWER + DIGITS
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"
BASE32 = UPPER + "234567"
PW_CHARS = ALNUM + "!#$%^&*-_+=.~"


def rs(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---- one generator per rule: returns the secret ------------------------------------------


def aws_access_key_id(rng):
    return rng.choice(["AKIA", "ASIA", "AIDA", "AROA"]) + rs(rng, BASE32, 16)


def aws_secret_access_key(rng):
    return rs(rng, B64, 40)


def google_api_key(rng):
    return "AIza" + rs(rng, ALNUM + "-_", 35)


def azure_storage_key(rng):
    return base64.b64encode(rng.randbytes(64)).decode()  # 88 chars ending in ==


def github_token(rng):
    return rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + rs(rng, ALNUM, 36)


def github_fine_grained_pat(rng):
    return "github_pat_" + rs(rng, ALNUM, 22) + "_" + rs(rng, ALNUM, 59)


def gitlab_token(rng):
    return rng.choice(["glpat-", "gldt-", "glptt-"]) + rs(rng, ALNUM + "-_", 20)


def gitlab_runner_token(rng):
    return "GR1348941" + rs(rng, ALNUM + "-_", 20)


def huggingface_token(rng):
    return "hf_" + rs(rng, UPPER + LOWER, 34)


def npm_token(rng):
    return "npm_" + rs(rng, ALNUM, 36)


def pypi_token(rng):
    return "pypi-AgEIcHlwaS5vcmc" + rs(rng, B64URL, rng.randint(60, 160))


def slack_token(rng):
    kind = rng.choice(["b", "p", "a"])
    if kind == "p":
        return f"xoxp-{rs(rng, DIGITS, 12)}-{rs(rng, DIGITS, 12)}-{rs(rng, DIGITS, 13)}-{rs(rng, HEX, 32)}"
    return f"xox{kind}-{rs(rng, DIGITS, 12)}-{rs(rng, DIGITS, 13)}-{rs(rng, ALNUM, 24)}"


def slack_app_token(rng):
    return f"xapp-1-A{rs(rng, UPPER + DIGITS, 10)}-{rs(rng, DIGITS, 13)}-{rs(rng, HEX, 64)}"


def slack_webhook(rng):
    return (
        f"https://hooks.slack.com/services/T{rs(rng, UPPER + DIGITS, 8)}/B{rs(rng, UPPER + DIGITS, 10)}/"
        f"{rs(rng, ALNUM, 24)}"
    )


def stripe_key(rng):
    return rng.choice(["sk_live_", "sk_test_", "rk_live_"]) + rs(rng, ALNUM, rng.choice([24, 34, 99]))


def sendgrid_api_key(rng):
    return "SG." + rs(rng, B64URL, 22) + "." + rs(rng, B64URL, 43)


def twilio_api_key(rng):
    return "SK" + rs(rng, HEX, 32)


def twilio_auth_token(rng):
    return rs(rng, HEX, 32)


def anthropic_api_key(rng):
    return "sk-ant-" + rng.choice(["api03", "admin01"]) + "-" + rs(rng, B64URL, 93) + "AA"


def openai_api_key(rng):
    kind = rng.choice(["proj", "svcacct", "legacy"])
    if kind == "legacy":
        return "sk-" + rs(rng, ALNUM, 20) + "T3BlbkFJ" + rs(rng, ALNUM, 20)
    return f"sk-{kind}-" + rs(rng, B64URL, 74) + "T3BlbkFJ" + rs(rng, B64URL, 74)


def jwt(rng):
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    payload = {"sub": str(rng.randint(10**6, 10**9)), "name": rs(rng, LOWER, 8), "iat": rng.randint(1.5e9, 1.8e9)}
    sig = rng.randbytes(rng.choice([32, 64, 256]))
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), b64url(sig)])


def _pem(rng, label: str, n_bytes: int, headers: str = "") -> str:
    body = base64.b64encode(rng.randbytes(n_bytes)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n{headers}" + "\n".join(lines) + f"\n-----END {label}-----"


def private_key(rng):
    kind = rng.choice(["RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "PRIVATE KEY", "PGP PRIVATE KEY BLOCK"])
    n = {"RSA PRIVATE KEY": 1190, "EC PRIVATE KEY": 121, "OPENSSH PRIVATE KEY": 400, "PRIVATE KEY": 1218}.get(kind, 900)
    headers = "Version: GnuPG v2\n\n" if kind.startswith("PGP") else ""
    return _pem(rng, kind, n, headers)


def password(rng, n_min: int = 16, n_max: int = 32):
    # at least a letter, a digit and a symbol: password-like
    core = rs(rng, PW_CHARS, rng.randint(n_min, n_max) - 3)
    return core + rng.choice(LOWER) + rng.choice(DIGITS) + rng.choice("!#%^&*-_+=")


def url_password(rng):
    return rs(rng, ALNUM + "!$&*-_~", rng.randint(10, 24))


def conn_password(rng):
    # no leading '$': `Password=$NAME` is indistinguishable from a variable reference (allowlisted)
    return rng.choice(ALNUM) + rs(rng, ALNUM + "!#$%&*-_+~", rng.randint(9, 23))


# ---- contexts ---------------------------------------------------------------------------

ASSIGN = [
    'api_key = "{s}"',
    "export SECRET_VALUE={s}",
    '{{"credential": "{s}", "user": "svc"}}',
    "config:\n  credential: {s}\n  region: eu-west-1",
    "Here is the key: {s} (do not share)",
    "curl -H 'Authorization: Bearer {s}' https://api.internal.test/v1",
    "const client = new Client('{s}');",
    "<value>{s}</value>",
    "{s}",
]


def _ctx(rng, s: str, templates=ASSIGN) -> str:
    return rng.choice(templates).format(s=s)


def ctx_aws_secret(rng, s):
    t = rng.choice([
        'aws_secret_access_key = {s}', '"AWS_SECRET_ACCESS_KEY": "{s}"', "AWS_SECRET_ACCESS_KEY={s}",
        '"SecretAccessKey": "{s}"', "aws_secret_key: '{s}'", "  secret_access_key = {s}\n",
    ])
    return t.format(s=s)


def ctx_azure(rng, s):
    return f"DefaultEndpointsProtocol=https;AccountName={rs(rng, LOWER, 10)};AccountKey={s};EndpointSuffix=core.windows.net"


def ctx_azure_assign(rng, s):
    return rng.choice(['AZURE_STORAGE_KEY="{s}"', "azure_storage_account_key: {s}", '"storageKey": "{s}"']).format(s=s)


def ctx_twilio_auth(rng, s):
    return rng.choice(["TWILIO_AUTH_TOKEN={s}", 'twilio_auth_token = "{s}"', '"twilioAuthToken": "{s}"']).format(s=s)


def ctx_url_password(rng, s):
    user = rs(rng, LOWER, rng.randint(3, 10))
    host = rng.choice(["db.internal.test", "10.0.3.7", "mongo-0.cluster.local", "git.corp.test", "cache"])
    t = rng.choice([
        "postgres://{u}:{s}@{h}:5432/app", "mongodb+srv://{u}:{s}@{h}/test?retryWrites=true",
        "redis://:{s}@{h}:6379/0", "https://{u}:{s}@{h}/repo.git", "amqp://{u}:{s}@{h}:5672/vhost",
        'DATABASE_URL="mysql://{u}:{s}@{h}/shop"',
    ])
    return t.format(u=user, s=s, h=host)


def ctx_conn_password(rng, s):
    t = rng.choice([
        "Server=tcp:{h},1433;Initial Catalog=app;User ID={u};Password={s};Encrypt=True;",
        "Data Source={h};Initial Catalog=sales;User Id={u};Password={s};",
        "Driver={{ODBC Driver 18}};Server={h};Database=hr;Uid={u};Pwd={s};",
        'conn = "Host={h};Database=app;Username={u};Password={s}"',
    ])
    return t.format(h=rng.choice(["sql.internal.test", "10.1.2.3"]), u=rs(rng, LOWER, 6), s=s)


def ctx_generic(rng, s):
    t = rng.choice([
        'password = "{s}"', '"api_key": "{s}"', "client_secret: '{s}'", 'DB_PASSWORD="{s}"',
        'self.token = "{s}"', "auth_token => '{s}'", '  "apiKey": "{s}",', 'SECRET_KEY = "{s}"',
    ])
    return t.format(s=s)


def ctx_npm(rng, s):
    if rng.random() < 0.5:
        return f"//registry.npmjs.org/:_authToken={s}"
    return _ctx(rng, s)


def ctx_pem(rng, s):
    t = rng.choice(["{s}", "key.pem:\n{s}\n", 'PRIVATE_KEY="{s}"'])
    return t.format(s=s)


# rule id -> (entity, secret generator, context function)
POSITIVES = {
    "aws-access-key-id": ("AWS_ACCESS_KEY_ID", aws_access_key_id, _ctx),
    "aws-secret-access-key": ("AWS_SECRET_ACCESS_KEY", aws_secret_access_key, ctx_aws_secret),
    "google-api-key": ("GOOGLE_API_KEY", google_api_key, _ctx),
    "azure-storage-account-key": ("AZURE_STORAGE_KEY", azure_storage_key, ctx_azure),
    "azure-storage-key-assignment": ("AZURE_STORAGE_KEY", azure_storage_key, ctx_azure_assign),
    "github-token": ("GITHUB_TOKEN", github_token, _ctx),
    "github-fine-grained-pat": ("GITHUB_TOKEN", github_fine_grained_pat, _ctx),
    "gitlab-token": ("GITLAB_TOKEN", gitlab_token, _ctx),
    "gitlab-runner-registration-token": ("GITLAB_TOKEN", gitlab_runner_token, _ctx),
    "huggingface-token": ("HUGGINGFACE_TOKEN", huggingface_token, _ctx),
    "npm-token": ("NPM_TOKEN", npm_token, ctx_npm),
    "pypi-token": ("PYPI_TOKEN", pypi_token, _ctx),
    "slack-token": ("SLACK_TOKEN", slack_token, _ctx),
    "slack-app-token": ("SLACK_TOKEN", slack_app_token, _ctx),
    "slack-webhook": ("SLACK_WEBHOOK", slack_webhook, _ctx),
    "stripe-secret-key": ("STRIPE_KEY", stripe_key, _ctx),
    "sendgrid-api-key": ("SENDGRID_API_KEY", sendgrid_api_key, _ctx),
    "twilio-api-key": ("TWILIO_API_KEY", twilio_api_key, _ctx),
    "twilio-auth-token": ("TWILIO_AUTH_TOKEN", twilio_auth_token, ctx_twilio_auth),
    "anthropic-api-key": ("ANTHROPIC_API_KEY", anthropic_api_key, _ctx),
    "openai-api-key": ("OPENAI_API_KEY", openai_api_key, _ctx),
    "jwt": ("JWT", jwt, _ctx),
    "private-key": ("PRIVATE_KEY", private_key, ctx_pem),
    "url-password": ("PASSWORD", url_password, ctx_url_password),
    "connection-string-password": ("PASSWORD", conn_password, ctx_conn_password),
    "generic-secret-assignment": ("GENERIC_SECRET", password, ctx_generic),
}


def positive(rng: random.Random, rule: str) -> dict:
    entity, gen, ctx = POSITIVES[rule]
    secret = gen(rng)
    text = ctx(rng, secret)
    start = text.index(secret)
    return {"rule": rule, "entity": entity, "label": "positive", "text": text,
            "start": start, "end": start + len(secret)}


# ---- negatives: near misses per rule, and generic look-alikes ------------------------------


def negatives_for(rng: random.Random, rule: str) -> list[str]:
    r = rng
    out = {
        "aws-access-key-id": [
            "AKIAIOSFODNN7EXAMPLE", "key id AKIA" + rs(r, BASE32, 15) + " truncated",
            "AKIA" + rs(r, LOWER, 16), "blob x" + "AKIA" + rs(r, BASE32, 16) + "y9", "AKIAXXXXXXXXXXXXXXXX",
        ],
        "aws-secret-access-key": [
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}", "aws_secret_access_key=<your-secret-key>",
            "aws_secret_sha = " + rs(r, HEX, 40), 'aws_secret_access_key = os.environ["AWS_SECRET_ACCESS_KEY"]',
        ],
        "google-api-key": [
            "AIza" + rs(r, ALNUM, 20) + " short", "AIza" + rs(r, ALNUM, 40), "AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "key=AIza-your-api-key-here",
        ],
        "azure-storage-account-key": [
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=<account-key>;EndpointSuffix=core.windows.net",
            "AccountKey=" + "A" * 86 + "==", "UseDevelopmentStorage=true",
        ],
        "azure-storage-key-assignment": [
            'AZURE_STORAGE_KEY="<storage-account-key>"', "azure_storage_key: " + rs(r, HEX, 86) + "==",
            "storage_key = $(az storage account keys list --query [0].value -o tsv)",
        ],
        "github-token": ["ghp_" + rs(r, ALNUM, 20), "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "see https://github.com/settings/tokens (ghp_...)"],
        "github-fine-grained-pat": ["github_pat_" + rs(r, ALNUM, 22), "github_pat_<token>"],
        "gitlab-token": ["glpat-" + rs(r, ALNUM, 10), "glpat-xxxxxxxxxxxxxxxxxxxx", "GITLAB_TOKEN=glpat-${TOKEN}"],
        "gitlab-runner-registration-token": ["GR1348941" + rs(r, ALNUM, 8), "GR1348941xxxxxxxxxxxxxxxxxxxx"],
        "huggingface-token": ["hf_" + rs(r, ALNUM, 20), "HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "hf_hub_download(repo_id=x)",
                              "HUGGING_FACE_HUB_TOKEN=<your-hf-token>"],
        "npm-token": ["npm_" + rs(r, ALNUM, 20), "npm_config_cache=/tmp/npm", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}"],
        "pypi-token": ["pypi-AgEIcHlwaS5vcmc" + rs(r, B64URL, 20), "password = pypi-<your-token>"],
        "slack-token": ["xoxb-your-token-here", "xoxb-" + rs(r, DIGITS, 12), "token: xoxp-XXXXXXXXXXXX-XXXXXXXXXXXX"],
        "slack-app-token": ["xapp-1-" + rs(r, UPPER, 5)],
        "slack-webhook": ["https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
                          "https://hooks.slack.com/services/<workspace>/<channel>/<token>"],
        "stripe-secret-key": ["sk_live_" + rs(r, ALNUM, 10), "pk_live_" + rs(r, ALNUM, 24), "sk_test_xxxxxxxxxxxxxxxxxxxxxxxx",
                              "STRIPE_KEY=sk_live_<your-key>"],
        "sendgrid-api-key": ["SG." + rs(r, B64URL, 10) + "." + rs(r, B64URL, 10), "SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
        "twilio-api-key": ["SK" + rs(r, HEX, 20), "skip " + rs(r, HEX, 32), "SK" + rs(r, HEX, 40)],
        "twilio-auth-token": ["TWILIO_AUTH_TOKEN=your_auth_token", "twilio_account_sid = AC" + rs(r, HEX, 32),
                              "TWILIO_AUTH_TOKEN=" + "0" * 32],
        "anthropic-api-key": ["sk-ant-api03-" + rs(r, B64URL, 20), "ANTHROPIC_API_KEY=sk-ant-..."],
        "openai-api-key": ["sk-" + rs(r, ALNUM, 48), "OPENAI_API_KEY=sk-...", "sk-proj-" + rs(r, ALNUM, 10), "sk-proj-your-key-here"],
        "jwt": ["eyJhbGciOiJIUzI1NiJ9", "eyJ" + rs(r, B64URL, 30) + "." + "eyJ" + rs(r, B64URL, 30) + "." + rs(r, B64URL, 30),
                "header.payload.signature"],
        "private-key": [
            "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(r.randbytes(270)).decode() + "\n-----END PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----\n" + base64.b64encode(r.randbytes(600)).decode() + "\n-----END CERTIFICATE-----",
            "Generate one with `openssl genrsa` and paste the -----BEGIN PRIVATE KEY----- block here.",
            "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "x" * 70 + "\n-----END OPENSSH PRIVATE KEY-----",
        ],
        "url-password": [
            "postgres://user:password@localhost:5432/db", "https://user@github.com/org/repo.git",
            "http://localhost:8080/api", "redis://:${REDIS_PASSWORD}@cache:6379", "mysql://root:<password>@db/shop",
            "ssh://git@github.com:22/org/repo", "postgres://app:****@db.internal.test/app",
            "see https://example.org/a:b@c for details",
            'url = httpx.URL("https://jo%40email.com:a%20secret@example.com/")', 's3://my_key:my_secret@bucket/key',
        ],
        "connection-string-password": [
            "Server=db;Database=app;User Id=sa;Password=<password>;", "Server=db;Database=app;Trusted_Connection=True;",
            "Server=db;Database=app;User Id=sa;Password=${DB_PASSWORD};",
        ],
        "generic-secret-assignment": [
            'password = "password"', 'token = "${GITHUB_TOKEN}"', 'api_key = "your_api_key_here"', 'secret = "changeme"',
            'password = os.environ["DB_PASSWORD"]', 'token = request.headers.get("Authorization")',
            'password_hint = "Use 8+ characters"', 'password: "{{ .Values.db.password }}"', 'api_key = "<token>"',
            'secret_name = "prod-db-credentials"', 'TOKEN_URL = "https://oauth2.googleapis.com/token"',
            'token_type = "Bearer"', 'password = "********"', 'api_key = "%(api_key)s"', 'token = "aaaaaaaaaaaa"',
            '{"token_bytes": "' + base64.b64encode(r.randbytes(12)).decode() + '", "rank": 1043}',
            '"model.embed_tokens.weight": "model-00001-of-00004.safetensors"',
            'next_page_token = "' + b64url(r.randbytes(24)) + '"', 'tokenizer.pad_token = "' + rs(r, ALNUM, 12) + '"',
            '{"eos_token": "</s>", "bos_token": "<s>", "unk_token": "[UNK]", "mask_token": "[MASK]"}',
            'max_tokens = "' + rs(r, DIGITS, 4) + 'abcdefgh"', '{"token": "headers.authorization", "user_id": "body.userId"}',
            'user_specified_private_key = "ssh_private_key"', 'api_key="your-replicate-api-key"',
        ],
    }[rule]
    return out


def generic_negatives(rng: random.Random) -> list[tuple[str, str]]:
    """(category, text) look-alikes that are not secrets."""
    r = rng
    out = []
    for _ in range(5):
        data = r.randbytes(r.randint(8, 64))
        out.append(("hash", f"sha256: {hashlib.sha256(data).hexdigest()}"))
        out.append(("hash", f"commit {hashlib.sha1(data).hexdigest()} (HEAD -> main)"))
        out.append(("hash", f'"etag": "{hashlib.md5(data).hexdigest()}"'))
        out.append(("hash", f'"integrity": "sha512-{base64.b64encode(hashlib.sha512(data).digest()).decode()}"'))
        out.append(("hash", f"image: registry.test/app@sha256:{hashlib.sha256(data).hexdigest()}"))
        out.append(("uuid", f'{{"request_id": "{uuid.UUID(int=r.getrandbits(128))}", "status": 200}}'))
        out.append(("uuid", f"trace={uuid.UUID(int=r.getrandbits(128)).hex} span={r.getrandbits(64):016x}"))
        blob = base64.b64encode(r.randbytes(r.randint(300, 3000))).decode()
        out.append(("base64", f'"image": "data:image/png;base64,{blob}"'))
        out.append(("base64", "\n".join(blob[i : i + 76] for i in range(0, len(blob), 76))))
        out.append(("base64", base64.urlsafe_b64encode(r.randbytes(600)).decode()))
    out += [
        ("docs", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("docs", "Set GITHUB_TOKEN to your personal access token (it starts with ghp_)."),
        ("docs", 'export OPENAI_API_KEY="sk-..."  # your key from the dashboard'),
        ("docs", "Stripe secret keys start with sk_live_ or sk_test_; never commit them."),
        ("templated", 'password: "${DB_PASSWORD}"\ntoken: "{{ secrets.GITHUB_TOKEN }}"\napi_key: "$API_KEY"'),
        ("templated", "DATABASE_URL=postgres://${PGUSER}:${PGPASSWORD}@${PGHOST}:5432/${PGDATABASE}"),
        ("templated", 'headers = {"Authorization": f"Bearer {token}"}'),
        ("templated", 'client = Client(api_key="<YOUR_API_KEY>", secret="<YOUR_SECRET>")'),
        ("js", '!function(e,t){"object"==typeof exports&&"undefined"!=typeof module?module.exports=t():'
               '"function"==typeof define&&define.amd?define(t):(e=e||self).Auth=t()}(this,function(){"use strict";'
               'var e={token:null,secret:void 0,password:""};function t(t){return e.token=t.token,e.secret=t.secret||"",'
               'e.password=t.password,e}var n=function(e){return e.apiKey&&e.apiKey.length>8};'
               'return{login:t,valid:n,tokenize:function(e){return e.split(/\\s+/)}}});'),
        ("js", 'var r=o.token||"",i=a.accessKey,s={passwordField:"pwd-input",tokenHeader:"X-Auth-Token"};'),
        ("code", "def get_token(self):\n    return self._token\n\npassword = getpass.getpass()\n"),
        ("code", 'if not api_key:\n    raise ValueError("api_key is required")\nsecret_name = f"{env}-db"\n'),
        ("prose", "Rotate your password every 90 days and never reuse a token across services."),
        ("prose", "The secret to good bread is time: let the dough rest overnight."),
        ("log", '2024-03-01T12:00:03Z INFO auth: token refreshed for user_id=48213 in 12ms (request 7f3a9c)'),
        ("log", "127.0.0.1 - - [01/Mar/2024:12:00:03 +0000] \"GET /api/v1/items?page=2 HTTP/1.1\" 200 5120"),
        ("url", "https://example.com:8443/path?q=1#frag and mailto:someone@example.org"),
    ]
    return out


# ---- a clean mixed corpus (no secrets): false positives per 10 MB ----------------------------

WORDS = (
    "the of and to in is for that on with as by this be are from or at an it was not have which "
    "model data training token tokens secret password key keys access user users service request "
    "response error config value values server client cache build deploy release version update "
    "security review network storage account policy rotate credential session login logout api "
    "performance latency throughput memory disk file files path record records field schema table "
    "query index shard batch worker pipeline job run result results metric metrics score label"
).split()


def _prose(rng):
    n = rng.randint(30, 300)
    words = [rng.choice(WORDS) for _ in range(n)]
    out, i = [], 0
    while i < n:
        k = rng.randint(6, 18)
        s = " ".join(words[i : i + k])
        out.append(s[:1].upper() + s[1:] + rng.choice([".", ".", ".", "?", "!"]))
        i += k
    return " ".join(out)


def _ident(rng):
    return "_".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))


def _code(rng):
    lines = []
    for _ in range(rng.randint(5, 40)):
        a, b, c = _ident(rng), _ident(rng), _ident(rng)
        lines.append(rng.choice([
            f"{a} = {b}({c}, timeout={rng.randint(1, 60)})",
            f"def {a}(self, {b}, {c}=None):",
            f"    return self.{a}.get({b!r}, {rng.randint(0, 999)})",
            f'    log.info("{a} %s for %s", {b}, {c})',
            f"if not {a}:\n    raise ValueError(\"{a} is required\")",
            f"{a}_token = request.headers.get(\"Authorization\")",
            f"password = getpass.getpass(\"{a}: \")",
            f"secret = os.environ[\"{a.upper()}\"]",
            f"const {a} = require('{b}');",
            f"for (let i = 0; i < {a}.length; i++) {{ {b}[i] = {c}(i); }}",
            f"# TODO: rotate the {a} key before {rng.randint(2024, 2030)}",
            f"{a}: {rng.choice(['true', 'false', 'null', str(rng.randint(0, 10**6))])}",
        ]))
    return "\n".join(lines)


def _log(rng):
    lines = []
    for _ in range(rng.randint(3, 30)):
        ts = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"
        ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
        lines.append(rng.choice([
            f"{ts} INFO {_ident(rng)}: request_id={uuid.UUID(int=rng.getrandbits(128))} took {rng.randint(1, 900)}ms",
            f'{ip} - - [{ts}] "GET /api/v1/{_ident(rng)}?page={rng.randint(1, 99)} HTTP/1.1" {rng.choice([200, 304, 404, 500])} {rng.randint(100, 99999)}',
            f"{ts} WARN token refresh failed for user_id={rng.randint(1, 10**6)} (retry {rng.randint(1, 5)})",
            f"{ts} DEBUG trace={rng.getrandbits(128):032x} span={rng.getrandbits(64):016x} sampled=1",
            f"{ts} ERROR {_ident(rng)} failed: connection reset by peer ({ip}:{rng.randint(1024, 65535)})",
        ]))
    return "\n".join(lines)


def _json(rng):
    rec = {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "sha256": hashlib.sha256(rng.randbytes(16)).hexdigest(),
        "etag": hashlib.md5(rng.randbytes(8)).hexdigest(),
        "created_at": f"2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T10:00:00Z",
        "token_count": rng.randint(1, 4096),
        "password_policy": {"min_length": 12, "rotate_days": 90},
        "summary": _prose(rng)[:200],
        "tags": [rng.choice(WORDS) for _ in range(rng.randint(0, 5))],
    }
    return json.dumps(rec)


def _base64(rng):
    blob = base64.b64encode(rng.randbytes(rng.randint(200, 4000))).decode()
    if rng.random() < 0.5:
        return "\n".join(blob[i : i + 76] for i in range(0, len(blob), 76))
    return f'{{"image": "data:image/png;base64,{blob}"}}'


def _hashes(rng):
    out = []
    for _ in range(rng.randint(5, 40)):
        d = rng.randbytes(16)
        out.append(rng.choice([
            hashlib.sha1(d).hexdigest(), hashlib.sha256(d).hexdigest(), hashlib.md5(d).hexdigest(),
            "sha512-" + base64.b64encode(hashlib.sha512(d).digest()).decode(), str(uuid.UUID(int=rng.getrandbits(128))),
        ]))
    return " ".join(out)


def _minified_js(rng):
    parts = []
    for _ in range(rng.randint(10, 60)):
        a, b = rng.choice(LOWER), rng.choice(LOWER)
        parts.append(rng.choice([
            f"function {a}({b}){{return {b}&&{b}.token||null}}",
            f"var {a}={{token:{b}.token,secret:{b}.secret||\"\",password:\"\"}};",
            f"{a}.apiKey=void 0;",
            f"if(!{a}.accessKey)throw new Error(\"missing key\");",
            f"{a}=\"{rs(rng, ALNUM, rng.randint(4, 12))}\"+{b};",
            f"{a}.prototype.{_ident(rng)}=function(){{return this.{b}}};",
        ]))
    return "".join(parts)


CLEAN_KINDS = {
    "prose": _prose, "code": _code, "log": _log, "json": _json, "base64": _base64,
    "hashes": _hashes, "minified_js": _minified_js,
}


def clean_corpus(rng: random.Random, n_bytes: int) -> list[tuple[str, str]]:
    """(kind, text) records totalling about n_bytes of UTF-8, with no secrets in them."""
    out, total = [], 0
    kinds = list(CLEAN_KINDS)
    while total < n_bytes:
        kind = rng.choice(kinds)
        text = CLEAN_KINDS[kind](rng)
        out.append((kind, text))
        total += len(text.encode())
    return out
