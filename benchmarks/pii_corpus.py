"""A synthetic, realistic mixed-text corpus for the pattern-engine benchmark and tests.

Five kinds of records, in these proportions by count:
- prose (40%): sentences with planted PII of every Presidio pattern entity (valid checksums
  where a validator exists), sometimes next to context words ("my phone is ...");
- logs (25%): timestamped service logs with ids, durations, status codes, IPs, some e-mails;
- JSON (15%): API/order records with numeric ids, prices, SKUs, dates, some PII fields;
- code (15%): Python/JS/config snippets with hex constants, versions, hashes, port numbers;
- numeric tables (5%): CSV rows of numbers that are NOT PII (measurements, epochs, counts).

Deterministic for a seed, so a cached corpus and a regenerated one are identical.
"""

from __future__ import annotations

import hashlib
import random
import uuid

WORDS = (
    "the of and to in is was for on that with as by at from this be are it an or which have has "
    "data model training report system service customer account order team project review update "
    "meeting quarter revenue analysis budget delivery shipment office policy support request "
    "network server storage cluster release version feature issue ticket deadline schedule "
    "invoice payment contract supplier warehouse product inventory market growth forecast "
    "research paper results method experiment baseline accuracy dataset pipeline evaluation"
).split()
FIRST = "Alice Bob Carol David Emma Frank Grace Henry Irene Jack Karen Liam Maria Noah Olivia Paul".split()
LAST = "Smith Johnson Brown Garcia Miller Davis Wilson Moore Taylor Anderson Thomas Martin Lee".split()
DOMAINS = "example.com mail.org corp.net company.io university.edu agency.gov shop.co.uk".split()
TLDS = "com org net io edu gov".split()


def _luhn_complete(prefix: str, length: int, rnd: random.Random) -> str:
    digits = prefix + "".join(rnd.choice("0123456789") for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)


def credit_card(rnd):
    cc = _luhn_complete(rnd.choice(["4", "51", "55", "37", "6011"]), 16 if rnd.random() < 0.8 else 15, rnd)
    if rnd.random() < 0.5:
        return " ".join(cc[i : i + 4] for i in range(0, len(cc), 4))
    return cc


def iban(rnd):
    bank = "".join(rnd.choice("0123456789") for _ in range(18))
    country = rnd.choice(["DE", "GB", "FR"])
    if country == "GB":
        bank = "NWBK" + bank[:14]
    elif country == "FR":
        bank = bank[:10] + "ABCDEFGHIJK"[rnd.randrange(10)] + bank[10:] + "12"
        bank = bank[:23]
    conv = "".join(str(int(c, 36)) for c in bank + country + "00")
    check = 98 - int(conv) % 97
    s = f"{country}{check:02d}{bank}"
    if rnd.random() < 0.5:
        return " ".join(s[i : i + 4] for i in range(0, len(s), 4))
    return s


def nhs(rnd):
    while True:
        d = [rnd.randrange(10) for _ in range(9)]
        total = sum(x * (10 - i) for i, x in enumerate(d))
        check = 11 - total % 11
        if check == 11:
            check = 0
        if check != 10:
            s = "".join(map(str, d)) + str(check)
            return f"{s[:3]} {s[3:6]} {s[6:]}"


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def btc(rnd):
    payload = b"\x00" + bytes(rnd.randrange(256) for _ in range(20))
    chk = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(payload + chk, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" + out


def dea(rnd):
    letters = rnd.choice("ABFGMPRX") + rnd.choice("ABCDEFGHJKLMNPRSTUVWXYZ")
    d = [rnd.randrange(10) for _ in range(6)]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return letters + "".join(map(str, d)) + str(check)


def ssn(rnd):
    return f"{rnd.randint(100, 665)}-{rnd.randint(10, 99)}-{rnd.randint(1000, 9999)}"


def phone(rnd):
    f = rnd.randrange(5)
    a, b, c = rnd.randint(201, 989), rnd.randint(200, 999), rnd.randint(1000, 9999)
    if f == 0:
        return f"({a}) {b}-{c}"
    if f == 1:
        return f"{a}-{b}-{c}"
    if f == 2:
        return f"+1 {a} {b} {c}"
    if f == 3:
        return f"+44 20 {rnd.randint(7000, 8999)} {rnd.randint(1000, 9999)}"
    return f"+49 30 {rnd.randint(100000, 999999)}"


def email(rnd):
    return f"{rnd.choice(FIRST).lower()}.{rnd.choice(LAST).lower()}{rnd.randint(1, 99)}@{rnd.choice(DOMAINS)}"


def ipv4(rnd):
    return ".".join(str(rnd.randint(1, 254)) for _ in range(4))


def ipv6(rnd):
    return ":".join(f"{rnd.randrange(65536):x}" for _ in range(8))


def mac(rnd):
    return ":".join(f"{rnd.randrange(256):02x}" for _ in range(6))


def url(rnd):
    return f"https://www.{rnd.choice(WORDS)}{rnd.randint(1, 99)}.{rnd.choice(TLDS)}/{rnd.choice(WORDS)}?id={rnd.randint(1, 9999)}"


def date(rnd):
    y, m, d = rnd.randint(1950, 2025), rnd.randint(1, 12), rnd.randint(1, 28)
    return rnd.choice([f"{m:02d}/{d:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d}.{m}.{y}", f"{d:02d}-JAN-{y}"])


PLANTS = [
    ("credit card", credit_card), ("IBAN", iban), ("NHS number", nhs), ("bitcoin wallet", btc),
    ("DEA certificate", dea), ("SSN", ssn), ("phone", phone), ("email", email), ("ip", ipv4),
    ("ipv6 address", ipv6), ("mac address", mac), ("website", url), ("birthday", date),
    ("passport", lambda r: f"{r.randint(100000000, 999999999)}"),
    ("driver license", lambda r: f"{r.choice('ABCDEFGH')}{r.randint(1000000, 9999999)}"),
    ("itin", lambda r: f"9{r.randint(10, 99)}-{r.choice([70, 71, 80, 88])}-{r.randint(1000, 9999)}"),
    ("bank account", lambda r: f"{r.randint(10**9, 10**12)}"),
    ("uuid", lambda r: str(uuid.UUID(int=r.getrandbits(128)))),
]


def prose(rnd) -> str:
    out = []
    for _ in range(rnd.randint(4, 14)):
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(6, 18))]
        if rnd.random() < 0.35:
            label, gen = rnd.choice(PLANTS)
            value = gen(rnd)
            if rnd.random() < 0.5:
                words += [f"my {label} is {value}"]
            else:
                words.insert(rnd.randrange(len(words)), value)
        if rnd.random() < 0.2:
            words.insert(0, f"{rnd.choice(FIRST)} {rnd.choice(LAST)} said")
        if rnd.random() < 0.3:
            words.append(f"in {rnd.randint(1990, 2025)} with {rnd.randint(2, 500)} units at ${rnd.randint(1, 999)}.{rnd.randint(0, 99):02d}")
        sentence = " ".join(words)
        out.append(sentence[:1].upper() + sentence[1:] + ".")
    return " ".join(out)


def logs(rnd) -> str:
    lines = []
    for _ in range(rnd.randint(5, 25)):
        ts = f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}.{rnd.randint(0, 999):03d}Z"
        lvl = rnd.choice(["INFO", "INFO", "INFO", "WARN", "DEBUG", "ERROR"])
        msg = (
            f"{ts} {lvl} [worker-{rnd.randint(1, 64)}] req={uuid.UUID(int=rnd.getrandbits(128)).hex[:16]} "
            f"path=/api/v{rnd.randint(1, 3)}/{rnd.choice(WORDS)}/{rnd.randint(1, 99999)} status={rnd.choice([200, 200, 201, 204, 404, 500])} "
            f"took={rnd.randint(1, 5000)}ms bytes={rnd.randint(100, 10**6)} pid={rnd.randint(100, 65535)}"
        )
        r = rnd.random()
        if r < 0.08:
            msg += f" client={ipv4(rnd)}"
        elif r < 0.12:
            msg += f" user={email(rnd)}"
        elif r < 0.14:
            msg += f" mac={mac(rnd)}"
        lines.append(msg)
    return "\n".join(lines)


def json_record(rnd) -> str:
    items = ", ".join(
        f'{{"sku": "{rnd.choice("ABCDEFG")}{rnd.choice("XYZ")}-{rnd.randint(1000, 9999)}", "qty": {rnd.randint(1, 20)}, "price": {rnd.randint(1, 999)}.{rnd.randint(0, 99):02d}}}'
        for _ in range(rnd.randint(1, 6))
    )
    extra = ""
    r = rnd.random()
    if r < 0.15:
        extra = f', "email": "{email(rnd)}"'
    elif r < 0.25:
        extra = f', "phone": "{phone(rnd)}"'
    elif r < 0.28:
        extra = f', "card": "{credit_card(rnd)}"'
    return (
        f'{{"order_id": {rnd.randint(10**5, 10**7)}, "customer": "{rnd.choice(FIRST)} {rnd.choice(LAST)}", '
        f'"created": "2023-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}", "items": [{items}], '
        f'"total": {rnd.randint(1, 9999)}.{rnd.randint(0, 99):02d}, "weight_g": {rnd.randint(10, 50000)}{extra}}}'
    )


def code(rnd) -> str:
    lines = []
    for _ in range(rnd.randint(6, 30)):
        k = rnd.randrange(8)
        name = rnd.choice(WORDS)
        if k == 0:
            lines.append(f"    for i in range({rnd.randint(1, 4096)}):")
        elif k == 1:
            lines.append(f"{name.upper()}_MASK = 0x{rnd.getrandbits(32):08x}")
        elif k == 2:
            lines.append(f'__version__ = "{rnd.randint(0, 9)}.{rnd.randint(0, 30)}.{rnd.randint(0, 99)}"')
        elif k == 3:
            lines.append(f"# sha256: {hashlib.sha256(str(rnd.random()).encode()).hexdigest()}")
        elif k == 4:
            lines.append(f"    {name} = self.{rnd.choice(WORDS)}({rnd.randint(0, 1000)}, timeout={rnd.randint(1, 120)})")
        elif k == 5:
            lines.append(f"PORT = {rnd.randint(1024, 65535)}  # listen port")
        elif k == 6:
            lines.append(f"def {name}_{rnd.randint(1, 99)}(x, y={rnd.random():.4f}):")
        else:
            lines.append(f"    return x * {rnd.randint(2, 10**6)} + {rnd.randint(0, 10**4)}")
    return "\n".join(lines)


def numbers(rnd) -> str:
    rows = ["sensor,ts,value,count,delta"]
    for _ in range(rnd.randint(5, 40)):
        rows.append(
            f"s{rnd.randint(1, 300)},{rnd.randint(1_600_000_000, 1_700_000_000)},{rnd.uniform(-100, 100):.4f},{rnd.randint(0, 10**5)},{rnd.uniform(0, 1):.6f}"
        )
    return "\n".join(rows)


KINDS = [(prose, 40), (logs, 25), (json_record, 15), (code, 15), (numbers, 5)]


def generate(total_chars: int, seed: int = 0):
    """Yield records (str) until about `total_chars` characters have been produced."""
    rnd = random.Random(seed)
    fns = [f for f, w in KINDS for _ in range(w)]
    n = 0
    while n < total_chars:
        t = rnd.choice(fns)(rnd)
        n += len(t)
        yield t
