"""Hand-made RecBole atomic datasets written into a folder, shared by the tests and by
recbole_expectations.py (which records what RecBole 1.2.1 makes of them)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ML100K = Path(__file__).resolve().parents[2] / "tuner" / "data" / "builtin" / "ml-100k"

# "tiny": users u1..u6 interact (u6 is missing from tiny.user, u7 has no interactions), items i1..i8
# (i9 only in tiny.item, i1 listed twice there), a row without item id, a timestamp tie (u2 at 150),
# a repeated (user, item) pair (u3, i1), and rows not sorted by user or time.
TINY_INTER = """user_id:token\titem_id:token\trating:float\ttimestamp:float
u2\ti2\t3\t150
u1\ti1\t5\t100
u3\ti1\t4\t120
u2\ti3\t4\t150
u4\ti7\t3\t130
u1\ti2\t4\t200
u5\ti8\t5\t140
u6\ti1\t3\t160
u2\t\t3\t170
u3\ti3\t5\t220
u2\ti1\t5\t250
u4\ti2\t4\t230
u1\ti3\t3\t300
u6\ti2\t3\t260
u3\ti1\t1\t320
u2\ti6\t2\t350
u1\ti4\t2\t400
u6\ti3\t3\t360
u1\ti5\t1\t500
u1\ti6\t4\t600
"""
TINY_ITEM = """item_id:token\tclass:token_seq\tprice:float
i1\ta b\t10
i2\tb\t20
i3\t\t30
i4\tc a\t40
i5\td\t50
i6\ta\t60
i7\tb c d\t70
i8\te\t
i9\tf\t90
i1\tz\t99
"""
TINY_USER = """user_id:token\tgender:token\tage:float
u1\tM\t25
u2\tF\t35
u3\tF\t45
u4\tM\t22
u5\tF\t31
u7\tM\t50
"""

# name -> options, the same for RecBole and for us (RecBole's normalize_all null is our false)
TINY_CASES: dict[str, dict] = {
    "default": {},
    "keep_inter_without_user": {"filter_inter_by_user_or_item": False},
    "users_3_or_more": {"user_inter_num_interval": "[3,inf)"},
    "users_from_2_items_1_to_4": {"user_inter_num_interval": "[2,inf)", "item_inter_num_interval": "(1,4]"},
    "users_above_0": {"user_inter_num_interval": "(0,inf)"},
    "rating_3_up": {"val_interval": {"rating": "[3,inf)"}},
    "gender_f": {"val_interval": {"gender": ["F"]}},
    "age_union": {"val_interval": {"age": "[20,30);[40,50]"}},
    "price_open": {"val_interval": {"price": "(15,65)"}},
    "history_2": {"MAX_ITEM_LIST_LENGTH": 2},
    "inter_only": {"load_col": {"inter": ["user_id", "item_id", "timestamp"]}},
    "raw_timestamps": {"normalize_all": False},
}


def write_tiny(folder: Path, name: str = "tiny") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, text in (("inter", TINY_INTER), ("item", TINY_ITEM), ("user", TINY_USER)):
        (folder / f"{name}.{suffix}").write_text(text, encoding="utf-8")
    return folder


def write_ml100k_with_repeats(source: Path, folder: Path, name: str = "ml100dup") -> Path:
    """ml-100k made fit to test rm_dup_inter against RecBole: rows sharing a timestamp are dropped (RecBole
    orders ties by an unstable sort), and every 10th remaining rating is repeated later with a new rating."""
    lines = (source / "ml-100k.inter").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [line.split("\t") for line in lines[1:] if line]
    count: dict[str, int] = {}
    for row in rows:
        count[row[3]] = count.get(row[3], 0) + 1
    rows = [row for row in rows if count[row[3]] == 1]
    latest = max(int(row[3]) for row in rows)
    repeats = [[u, i, str(int(r) % 5 + 1), str(latest + 1 + k)] for k, (u, i, r, _) in enumerate(rows[::10])]
    folder.mkdir(parents=True, exist_ok=True)
    body = "\n".join("\t".join(row) for row in rows + repeats)
    (folder / f"{name}.inter").write_text(f"{header}\n{body}\n", encoding="utf-8")
    for suffix in ("item", "user"):
        (folder / f"{name}.{suffix}").write_bytes((source / f"ml-100k.{suffix}").read_bytes())
    return folder


ML100K_DUP_CASES: dict[str, dict] = {
    "keep_first": {"rm_dup_inter": "first"},
    "keep_last": {"rm_dup_inter": "last"},
    "keep_last_and_5_core": {
        "rm_dup_inter": "last",
        "user_inter_num_interval": "[5,inf)",
        "item_inter_num_interval": "[5,inf)",
    },
}
