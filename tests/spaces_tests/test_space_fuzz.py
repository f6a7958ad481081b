"""Whatever text a file holds, the parser answers with a space or its own error, never anything else."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuner.errors import SpaceError
from tuner.spaces import TYPES, parse_text


def parse_or_space_error(text: str, **kwargs) -> None:
    try:
        space = parse_text(text, "fuzz", **kwargs)
    except SpaceError as e:
        assert str(e).startswith("fuzz:")
        return
    # whatever parses must be usable all the way through
    space.to_json()
    space.distributions()
    if space.grid_size is not None:
        grid = space.grid()
        assert space.decode(space.encode(grid[0])) == grid[0]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text(text):
    parse_or_space_error(text)
    parse_or_space_error(text, format="yaml")


# Text near the format, so that the fuzzing reaches the value readers and not only the first check.
names = st.sampled_from(["learning_rate", "n_h", "nh", "x", "1x", "#c", ""])
types = st.sampled_from([*TYPES, "choise", ""])
atoms = st.one_of(
    st.integers(-10**5, 10**5).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["'a b'", "None", "True", "[", "]", "{", "}", ":", "(", ")", "1j", "b'x'", "1e999", "#", "__import__"]),
    st.text(string.printable, max_size=5),
)
values = st.lists(atoms, max_size=6).map(lambda parts: ",".join(parts))
lines = st.builds(lambda n, t, v, bracket: f"{n} {t} {'[' + v + ']' if bracket else v}", names, types, values, st.booleans())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines, max_size=5), st.sampled_from(["\n", "\r\n", "\r"]))
def test_near_valid_hyper_test_files(file_lines, newline):
    parse_or_space_error(newline.join(file_lines))


yaml_docs = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*TYPES, "other"]), st.dictionaries(names, yaml_docs, max_size=3), max_size=3))
def test_params_dict_shaped_yaml(doc):
    import yaml

    parse_or_space_error(yaml.safe_dump(doc), format="yaml")
