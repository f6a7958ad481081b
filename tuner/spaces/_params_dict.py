"""The same space as YAML in RecBole's ``params_dict`` shape (``_build_space_from_dict``)::

    choice:
      embedding_size: [64, 96, 128]
    loguniform:
      learning_rate: [-8, 0]

Read with the project's safe YAML loader (``1e-4`` is a float, as in RecBole's config files);
anchors and aliases are refused, so a small file cannot expand into a huge one. Bounds may also be
numeric strings, as RecBole's ``float(...)`` accepts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from tuner.config import YamlLoader
from tuner.errors import SpaceError, at
from tuner.spaces._build import TYPES, build_param
from tuner.spaces._names import check_name, unknown_type
from tuner.spaces._param import Param
from tuner.spaces._values import Invalid

SHAPE = "a mapping of types (choice, uniform, ...) to {name: value}"


def read_params_dict(text: str, source: str) -> Iterator[Param]:
    """The parameters of a params_dict YAML text, in file order (duplicates are checked by the caller)."""
    loader = _loader(text, source)
    try:
        root = _compose(loader, source)
        if root is None or root.tag == "tag:yaml.org,2002:null":  # no document, or an empty one (---)
            return
        if not isinstance(root, yaml.MappingNode):
            raise SpaceError(at(source, _line(root), f"expected {SHAPE}"))
        _refuse_aliases(root, source)
        sections: dict[str, int] = {}
        for type_node, body in root.value:
            hyper_type = _construct(loader, type_node, source)
            line = _line(type_node)
            if not isinstance(hyper_type, str) or hyper_type not in TYPES:
                raise SpaceError(at(source, line, unknown_type(hyper_type, "params_dict")))
            if hyper_type in sections:
                raise SpaceError(at(source, line, f"{hyper_type!r} appears twice (first on line {sections[hyper_type]})"))
            sections[hyper_type] = line
            if not isinstance(body, yaml.MappingNode) or not body.value:
                raise SpaceError(at(source, line, f"{hyper_type}: expected a mapping of names to {TYPES[hyper_type]}"))
            for name_node, value_node in body.value:
                yield _param(loader, hyper_type, name_node, value_node, source)
    finally:
        loader.dispose()


def _param(loader: YamlLoader, hyper_type: str, name_node: yaml.Node, value_node: yaml.Node, source: str) -> Param:
    line = _line(name_node)
    name = _construct(loader, name_node, source)
    value = _construct(loader, value_node, source)
    try:
        check_name(name)
        if hyper_type != "choice" and not isinstance(value, list):
            raise Invalid(f"{name}: {hyper_type} expects a list {TYPES[hyper_type]}, e.g. [0.0, 0.5]; got {value!r}")
        written = ",".join(map(str, value)) if hyper_type != "choice" else repr(value)
        return build_param(name, hyper_type, value, line=line, written=written)
    except Invalid as e:
        raise SpaceError(at(source, line, e.args[0])) from None


def _loader(text: str, source: str) -> YamlLoader:
    try:
        return YamlLoader(text)  # checks the characters at once
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        raise SpaceError(at(source, line, f"not valid YAML (a control character {chr(e.character)!r})")) from None


def _compose(loader: YamlLoader, source: str) -> yaml.Node | None:
    try:
        return loader.get_single_node()
    except yaml.YAMLError as e:
        raise SpaceError(at(source, _mark_line(e), f"not valid YAML ({getattr(e, 'problem', None) or e})")) from None
    except RecursionError:
        raise SpaceError(at(source, 1, "YAML nested too deeply")) from None


def _construct(loader: YamlLoader, node: yaml.Node, source: str) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as e:
        raise SpaceError(at(source, _mark_line(e) or _line(node), f"not valid YAML ({getattr(e, 'problem', None) or e})")) from None
    except RecursionError:
        raise SpaceError(at(source, _line(node), "YAML nested too deeply")) from None


def _refuse_aliases(root: yaml.Node, source: str) -> None:
    """An alias is the same node object reached twice; refuse it rather than expand it."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise SpaceError(at(source, _line(node), "YAML anchors and aliases are not supported in a space file"))
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mark_line(error: yaml.YAMLError) -> int:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return mark.line + 1 if mark is not None else 1
