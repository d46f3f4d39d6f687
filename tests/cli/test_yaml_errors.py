"""A YAML file that does not parse is named the same way by every reader of YAML text
(`config.yaml_text.yaml_error_place`): `validate -f` and `apply -f` (through `parse_yaml`),
`kube-inject -f` and `analyze --meshConfigFile` each say `FILE:LINE` and ruamel's problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from pilotfish.cli.analyze import analyze_command
from pilotfish.cli.errors import UserError
from pilotfish.cli.kube_inject import kube_inject
from pilotfish.cli.validate import validate_command
from pilotfish.config.yaml_text import yaml_error_place

BAD = {
    "unclosed": ("a: 1\nb: [\n", 3, "expected the node content, but found '<stream end>'"),
    "duplicate": ("a: 1\nb: 2\na: 3\n", 3, 'found duplicate key "a" with value "3"'),
    "tab": ("a:\n\tb: 1\n", 2, "found character '\\t' that cannot start any token"),
    "alias": ("a: 1\nb: *x\n", 2, "found undefined alias 'x'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_place_and_the_problem_of_a_parse_error(case: str) -> None:
    text, line, problem = BAD[case]
    with pytest.raises(YAMLError) as caught:
        YAML(typ="rt").load(text)
    where, said = yaml_error_place(caught.value, "f.yaml")
    assert (str(where), said[: len(problem)]) == (f"f.yaml:{line}", problem)


def test_a_mark_less_error_has_no_line() -> None:
    where, said = yaml_error_place(YAMLError("something odd\nmore"), "f.yaml")
    assert (str(where), said) == ("f.yaml", "something odd")


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_reader_names_file_and_line_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    text, line, problem = BAD[case]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    place = f"{bad}:{line}: "
    assert validate_command([str(bad)]) == 1
    assert f"{place}YAML syntax error: {problem}" in capsys.readouterr().out
    with pytest.raises(UserError) as refused:
        kube_inject([str(bad)])
    assert str(refused.value).startswith(f"{place}invalid YAML: {problem}")
    good = tmp_path / "in.yaml"
    good.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    assert analyze_command([str(good)], mesh_config_file=str(bad)) == 1
    assert f"{place}not valid YAML: {problem}" in capsys.readouterr().err
