"""The form catalogue: reads form and code-list files and compiles them (the only file I/O in schemas).

Forms ship in ``schemas/forms/*.yaml`` and shared code lists in ``schemas/codelists/*.yaml``.
A county can add forms (e.g. from ``census forms import-xlsform``) in extra folders, given as
``extra_dirs`` or in the ``CENSUS_FORMS_PATH`` environment variable (``os.pathsep``-separated).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Iterable

import yaml

from .compiler import compile_choice_list, compile_form
from .errors import Code, CensusError, FormDefinitionError
from .model import Block, ChoiceList, Form

PACKAGE_DIR = Path(__file__).resolve().parent
FORMS_DIR = PACKAGE_DIR / "forms"
CODELISTS_DIR = PACKAGE_DIR / "codelists"


class UnknownForm(CensusError, KeyError):
    pass


# libyaml's safe loader when PyYAML was built with it: the catalogue loads ~7x faster (desktop start-up)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> object:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        raise FormDefinitionError(f"{path}: YAML 格式错误：{e}", f"{path}: bad YAML: {e}",
                                  code=Code.FILE_UNREADABLE) from e


@functools.lru_cache(maxsize=None)
def shared_codelists() -> dict[str, ChoiceList]:
    lists: dict[str, ChoiceList] = {}
    for path in sorted(CODELISTS_DIR.glob("*.yaml")):
        data = read_yaml(path)
        items = data if isinstance(data, list) else [data]
        for item in items:
            try:
                cl = compile_choice_list(item)
            except FormDefinitionError as e:
                raise FormDefinitionError(f"{path.name}: {e.message_zh}", f"{path.name}: {e.message_en}",
                                          code=e.code, problems=e.problems) from e
            if cl.name in lists:
                raise FormDefinitionError(f"{path.name}: 代码表“{cl.name}”重复定义", f"{path.name}: code list "
                                          f"'{cl.name}' is defined twice", code=Code.FORM_DUPLICATE_NAME)
            lists[cl.name] = cl
    return lists


def load_form_file(path: str | Path) -> Form:
    path = Path(path)
    try:
        result = compile_form(read_yaml(path), shared_codelists())
    except FormDefinitionError as e:
        raise FormDefinitionError(f"{path.name}: {e.message_zh}", f"{path.name}: {e.message_en}",
                                  code=e.code, problems=e.problems) from e
    return result.form


def _form_dirs(extra_dirs: Iterable[str | Path] = ()) -> tuple[Path, ...]:
    dirs = [FORMS_DIR, *map(Path, extra_dirs)]
    env = os.environ.get("CENSUS_FORMS_PATH")
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    return tuple(dirs)


@functools.lru_cache(maxsize=8)
def _load(dirs: tuple[Path, ...]) -> dict[str, Form]:
    forms: dict[str, Form] = {}
    for d in dirs:
        for path in sorted(Path(d).glob("*.yaml")):
            form = load_form_file(path)
            if form.id in forms:
                raise FormDefinitionError(f"表单编号 {form.id} 重复（{path}）", f"form id {form.id} is defined twice ({path})",
                                          code=Code.FORM_DUPLICATE_NAME)
            forms[form.id] = form
    return forms


def all_forms(extra_dirs: Iterable[str | Path] = ()) -> dict[str, Form]:
    """Every form by id, in block order then id."""
    forms = _load(_form_dirs(extra_dirs))
    order = {b: i for i, b in enumerate(Block)}
    return dict(sorted(forms.items(), key=lambda kv: (order[kv[1].block], kv[0])))


def get_form(form_id: str, extra_dirs: Iterable[str | Path] = ()) -> Form:
    forms = all_forms(extra_dirs)
    try:
        return forms[form_id]
    except KeyError:
        raise UnknownForm(f"没有编号为“{form_id}”的表单；可用：{', '.join(forms)}",
                          f"no form with id '{form_id}'; available: {', '.join(forms)}") from None
