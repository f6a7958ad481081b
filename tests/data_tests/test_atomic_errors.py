"""Bad input: a DataError (or ConfigError for an option) naming the file, the line and what was expected."""

from __future__ import annotations

import re

import pytest

from tuner.data import load_dataset
from tuner.errors import ConfigError, DataError

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
WITH_ITEMS = {"load_col": {"inter": None, "item": None}}
ROWS = "1\t10\t5\t100\n1\t11\t4\t200\n1\t12\t3\t300\n2\t10\t2\t150\n2\t12\t1\t250\n"


def error_of(folder, options=None, kind=DataError) -> str:
    with pytest.raises(kind) as caught:
        load_dataset(str(folder), options)
    return str(caught.value)


def test_missing_inter_file_names_the_expected_file(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    message = error_of(folder)
    assert "empty.inter" in message and str(folder) in message


def test_missing_required_column_names_file_line_1_and_the_option(atomic):
    folder = atomic({"inter": "user_id:token\titem_id:token\trating:float\n1\t10\t5\n"})
    message = error_of(folder)
    assert re.search(r"toy\.inter:1: no column 'timestamp' \(TIME_FIELD\)", message), message
    assert "user_id, item_id, rating" in message


def test_renamed_fields_are_found_through_the_field_options(atomic):
    folder = atomic({"inter": "uid:token\tiid:token\tts:float\n1\t10\t5\n1\t11\t6\n1\t12\t7\n"})
    dataset = load_dataset(str(folder), {"USER_ID_FIELD": "uid", "ITEM_ID_FIELD": "iid", "TIME_FIELD": "ts"})
    assert dataset.stats()["n_test"] == 1


def test_unknown_header_type(atomic):
    folder = atomic({"inter": "user_id:token\titem_id:token\trating:int\ttimestamp:float\n" + ROWS})
    message = error_of(folder)
    assert re.search(r"toy\.inter:1: header column 'rating:int': unknown type 'int'; expected one of token, token_seq, float, float_seq", message), message


def test_header_column_without_type(atomic):
    folder = atomic({"inter": "user_id\titem_id:token\ttimestamp:float\n1\t2\t3\n"})
    assert re.search(r"toy\.inter:1: header column 'user_id': expected field:type", error_of(folder))


def test_non_numeric_timestamp_names_its_line(atomic):
    rows = ROWS.splitlines(keepends=True)
    rows[3] = "2\t10\t2\tyesterday\n"
    message = error_of(atomic({"inter": HEADER + "".join(rows)}))
    assert re.search(r"toy\.inter:5: column 'timestamp': expected a number, got 'yesterday'", message), message


def test_non_numeric_float_names_its_line_even_after_a_blank_line(atomic):
    folder = atomic({"inter": HEADER + "1\t10\t5\t100\n\n1\t11\tfive\t200\n"})
    assert re.search(r"toy\.inter:4: column 'rating': expected a number, got 'five'", error_of(folder))


def test_empty_timestamp_is_an_error_but_an_empty_rating_is_not(atomic):
    folder = atomic({"inter": HEADER + "1\t10\t\t100\n1\t11\t4\t200\n1\t12\t3\t\n"})
    assert re.search(r"toy\.inter:4: column 'timestamp': expected a number, got an empty value", error_of(folder))


def test_wrong_number_of_fields_names_the_line(atomic):
    for bad_line, found in (("1\t13\t4\n", 3), ("1\t13\t4\t400\textra\n", 5)):
        folder = atomic({"inter": HEADER + ROWS + bad_line})
        message = error_of(folder)
        assert re.search(rf"toy\.inter:7: expected 4 tab-separated fields \(user_id, item_id, rating, timestamp\), found {found}", message), message


def test_not_utf8_names_the_line(atomic, tmp_path):
    folder = atomic({"inter": HEADER + ROWS})
    path = folder / "toy.inter"
    path.write_bytes(path.read_bytes() + "3\tcaf\u00e9\t1\t500\n".encode("latin-1"))
    assert re.search(r"toy\.inter:7: not UTF-8 text", error_of(folder))


def test_bad_item_file_is_reported_with_its_own_name(atomic):
    folder = atomic({"inter": HEADER + ROWS, "item": "item_id:token\tprice:float\n10\t3.5\n11\tcheap\n"})
    assert re.search(r"toy\.item:3: column 'price': expected a number, got 'cheap'", error_of(folder, WITH_ITEMS))


def test_item_file_without_the_item_column(atomic):
    folder = atomic({"inter": HEADER + ROWS, "item": "movie:token\tclass:token_seq\n10\ta\n"})
    assert re.search(r"toy\.item:1: no column 'item_id' \(ITEM_ID_FIELD\)", error_of(folder, WITH_ITEMS))


def test_load_col_naming_a_file_that_is_not_there(atomic):
    folder = atomic({"inter": HEADER + ROWS})
    assert re.search(r"toy\.item: file not found \(load_col names the item file\)", error_of(folder, WITH_ITEMS))


def test_names_that_are_not_dataset_options_are_left_to_their_owners(atomic):
    folder = atomic({"inter": HEADER + ROWS})
    assert load_dataset(str(folder), {"learning_rate": 0.1, "nh": 4}).stats() == load_dataset(str(folder)).stats()


def test_id_column_of_the_wrong_type(atomic):
    folder = atomic({"inter": "user_id:float\titem_id:token\ttimestamp:float\n1\t10\t100\n"})
    assert re.search(r"toy\.inter:1: column 'user_id' \(USER_ID_FIELD\) has type float; expected token", error_of(folder))


def test_filters_that_leave_no_data_say_which(atomic):
    folder = atomic({"inter": HEADER + ROWS})
    message = error_of(folder, {"val_interval": {"rating": "[6,inf)"}})
    assert "toy.inter: the filters left no rows" in message and "val_interval" in message
    message = error_of(folder, {"user_inter_num_interval": "[10,inf)"})
    assert "left no rows" in message and "user_inter_num_interval=[10.0,inf)" in message


def test_load_col_naming_a_column_the_file_lacks(atomic):
    folder = atomic({"inter": HEADER + ROWS})
    options = {"load_col": {"inter": ["user_id", "item_id", "timestamp", "genre"]}}
    assert re.search(r"toy\.inter:1: no column 'genre' in the header", error_of(folder, options))


def test_load_col_leaving_out_a_needed_column_is_a_config_error(atomic):
    folder = atomic({"inter": HEADER + ROWS})
    message = error_of(folder, {"load_col": {"inter": ["user_id", "item_id"]}}, ConfigError)
    assert "load_col.inter leaves out 'timestamp' (TIME_FIELD)" in message


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"user_inter_num_interval": "5"}, r'user_inter_num_interval: expected an interval such as "\[5,inf\)"'),
        ({"user_inter_num_interval": "[5;inf)"}, "user_inter_num_interval: expected an interval"),
        ({"item_inter_num_interval": "[10,5]"}, "is empty"),
        ({"user_inter_num_interval": 5}, "expected an interval string"),
        ({"val_interval": "[3,inf)"}, "val_interval: expected a mapping"),
        ({"val_interval": {"rating": ["4", "5"]}}, "expected an interval"),
        ({"val_interval": {"genre": "[1,2]"}}, "val_interval: no loaded column 'genre'"),
        ({"rm_dup_inter": "middle"}, "rm_dup_inter: expected first, last or null"),
        ({"MAX_ITEM_LIST_LENGTH": 0}, "MAX_ITEM_LIST_LENGTH: expected a positive integer"),
        ({"load_col": {"inters": ["user_id"]}}, "load_col: unknown file suffix 'inters'"),
    ],
)
def test_bad_options_are_config_errors_that_say_what_was_expected(atomic, options, expected):
    folder = atomic({"inter": HEADER + ROWS})
    assert re.search(expected, error_of(folder, options, ConfigError))


def test_token_filter_needs_a_list_of_tokens(atomic):
    folder = atomic({"inter": HEADER + ROWS, "item": "item_id:token\tyear:token\n10\t1995\n11\t1996\n12\t1995\n"})
    message = error_of(folder, {**WITH_ITEMS, "val_interval": {"year": "[1995,1996]"}}, ConfigError)
    assert "'year' is a token field; expected a list of the tokens to keep" in message
    dataset = load_dataset(str(folder), {**WITH_ITEMS, "val_interval": {"year": [1995]}})  # YAML numbers match their text
    assert sorted(dataset.item_tokens[1:]) == ["10", "12"]


def test_crlf_lines_a_byte_order_mark_blank_lines_and_no_final_newline_are_read(atomic):
    text = "\ufeff" + (HEADER + ROWS).replace("\n", "\r\n") + "\r\n\r\n3\t10\t1\t400"
    dataset = load_dataset(str(atomic({"inter": text})))
    assert dataset.n_interactions == 6 and dataset.user_tokens == ["[PAD]", "1", "2", "3"]
    crlf_error = (HEADER + ROWS).replace("\n", "\r\n") + "3\t10\tmany\t400\r\n"
    assert re.search(r"crlf\.inter:7: column 'rating': expected a number, got 'many'", error_of(atomic({"inter": crlf_error}, "crlf")))
