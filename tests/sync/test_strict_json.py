"""Revision lines are parsed by a fast reader where one is installed; values and refusals must be
exactly the standard library's (strict: no NaN/Infinity)."""

import json

import pytest

from sync.package import _no_constants, _strict_json


def _reference(text):
    return json.loads(text, parse_constant=_no_constants)


@pytest.mark.parametrize("text", [
    '{"a":1,"b":[1.5,-0.0,1E5,1e-400,1e400],"c":{"d":null,"e":true,"f":"文本"}}',
    '{"a":1,"a":2}',                                   # last key wins, as in the standard library
    '["\\ud800"]',                                     # a lone surrogate escape is accepted
    '[123456789012345678901234567890]',                # beyond 64 bits: stays an exact int
    '{"a": -9223372036854775809}',
    '[1,\n 99999999999999999999]',
    '{"b":"B2114811000040007714","n":1234567890123456789}',
    '{"a":1} ',
    '{"a":1234567890123456789}\t',
])
def test_values_match_the_standard_library(text):
    got = _strict_json(text, text.encode("utf-8"))
    assert got == _reference(text)
    assert _strict_json(text) == got
    assert json.dumps(got) == json.dumps(_reference(text))   # types too (int stays int)


@pytest.mark.parametrize("text", ['{"a":NaN}', '[Infinity]', '{"a":1}x', '{"a":"\x01"}', '{"a":}', '[1,]'])
def test_refusals_match_the_standard_library(text):
    with pytest.raises(ValueError) as ours:
        _strict_json(text, text.encode("utf-8"))
    with pytest.raises(ValueError) as theirs:
        _reference(text)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("text, lone", [('{"a":"王\\ud800五"}', True), ('["\\udfff"]', True), ('{"\\udbff":1}', True),
                                        ('{"a":"\\ud83d\\ude00"}', False), ('{"a":"\\\\ud800"}', False),
                                        ('{"a":"plain"}', False)])
def test_lone_surrogates_are_found_in_package_and_upward_text(text, lone):
    """A lone surrogate escape parses but cannot be stored as UTF-8 text: both readers single it out
    (a return package refuses the line; an upward document refuses it as not valid JSON)."""
    from schemas.unicode_text import has_lone_surrogate
    from sync.upward import _strict_json as upward_json

    value = _reference(text)
    assert has_lone_surrogate(text, value) is lone
    assert has_lone_surrogate(text.encode("utf-8"), value) is lone
    if lone:
        with pytest.raises(ValueError):
            upward_json(text)
    else:
        assert upward_json(text) == value
