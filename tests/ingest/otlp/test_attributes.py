"""A span's attributes are read once into Python values; the typed getters still name the
attribute and the type it had, whichever ``AnyValue`` field carried it."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from daytwo.ingest.otlp.attributes import Attributes, HexBytes, SpanError, read_attributes


def _pairs(**values: AnyValue) -> list[KeyValue]:
    return [KeyValue(key=k.replace("__", "."), value=v) for k, v in values.items()]


def _attrs(**values: AnyValue) -> Attributes:
    return Attributes(read_attributes(_pairs(**values)))


def test_every_kind_of_value_is_read_once_as_its_python_value() -> None:
    raw = read_attributes(
        _pairs(
            s=AnyValue(string_value="hi"),
            i=AnyValue(int_value=7),
            d=AnyValue(double_value=0.5),
            b=AnyValue(bool_value=True),
            x=AnyValue(bytes_value=b"\x01\xff"),
            a=AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)])),
            empty=AnyValue(),
        )
    )
    assert raw == {"s": "hi", "i": 7, "d": 0.5, "b": True, "x": "01ff", "a": [1], "empty": None}
    assert type(raw["x"]) is HexBytes
    assert type(raw["b"]) is bool


def test_zero_false_and_empty_values_are_read_as_the_values_they_are() -> None:
    raw = read_attributes(
        _pairs(
            i=AnyValue(int_value=0),
            b=AnyValue(bool_value=False),
            d=AnyValue(double_value=0.0),
            s=AnyValue(string_value=""),
            n=AnyValue(int_value=-3),
        )
    )
    assert raw == {"i": 0, "b": False, "d": 0.0, "s": "", "n": -3}
    assert [type(v) for v in raw.values()] == [int, bool, float, str, int]


def test_nothing_is_kept_where_every_name_is_a_mapped_one() -> None:
    attrs = _attrs(
        gen_ai__request__model=AnyValue(string_value="m"),
        user__id=AnyValue(string_value="u"),
    )
    assert attrs.rest() == {}


def test_a_later_duplicate_key_wins() -> None:
    pairs = [
        KeyValue(key="k", value=AnyValue(string_value="first")),
        KeyValue(key="k", value=AnyValue(string_value="second")),
    ]
    assert Attributes(read_attributes(pairs)).text("k") == "second"


def test_getters_fall_back_past_missing_and_empty_values_only() -> None:
    attrs = _attrs(a=AnyValue(), b=AnyValue(string_value="B"), c=AnyValue(string_value=""))
    assert attrs.text("missing", "a", "b") == "B"
    assert "a" in attrs  # present, though empty
    # An empty string is a value: it answers None rather than trying the next key.
    assert attrs.text("c", "b") is None


@pytest.mark.parametrize(
    ("value", "getter", "expected"),
    [
        (AnyValue(int_value=3), "text", "3"),
        (AnyValue(bool_value=False), "text", "False"),
        (AnyValue(double_value=4.0), "integer", 4),
        (AnyValue(string_value=" -12 "), "integer", -12),
        (AnyValue(int_value=2), "number", 2.0),
        (AnyValue(string_value="0.25"), "number", 0.25),
        (AnyValue(string_value="TRUE"), "flag", True),
        (AnyValue(bool_value=False), "flag", False),
    ],
)
def test_getters_take_what_the_conventions_allow(
    value: AnyValue, getter: str, expected: Any
) -> None:
    got = getattr(_attrs(k=value), getter)("k")
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("value", "getter", "message"),
    [
        (AnyValue(bytes_value=b"\x00"), "text", "must be a string, got bytes"),
        (AnyValue(double_value=1.5), "text", "must be a string, got a float"),
        (AnyValue(string_value="many"), "integer", "must be an integer, got the text 'many'"),
        (AnyValue(double_value=1.5), "integer", "must be an integer, got a float"),
        (AnyValue(bool_value=True), "integer", "must be an integer, got a boolean"),
        (AnyValue(bool_value=True), "number", "must be a number, got a boolean"),
        (AnyValue(string_value="x"), "number", "must be a number, got the text 'x'"),
        (AnyValue(int_value=1), "flag", "must be a boolean, got an integer"),
        (
            AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)])),
            "integer",
            "must be an integer, got an array",
        ),
    ],
)
def test_a_wrong_type_names_the_attribute_and_the_type(
    value: AnyValue, getter: str, message: str
) -> None:
    with pytest.raises(SpanError) as caught:
        getattr(_attrs(gen_ai__usage__input_tokens=value), getter)("gen_ai.usage.input_tokens")
    assert caught.value.field == "attributes.gen_ai.usage.input_tokens"
    assert caught.value.message == message


def test_kept_and_flattened_attributes_are_plain_values() -> None:
    attrs = _attrs(
        custom__id=AnyValue(bytes_value=b"\xab"),
        llm__input_messages__0__message__role=AnyValue(string_value="user"),
        gen_ai__request__model=AnyValue(string_value="m"),
    )
    kept = attrs.rest()
    assert kept == {"custom.id": "ab"}
    assert type(kept["custom.id"]) is str
    assert attrs.flat("llm.input_messages.") == {"0.message.role": "user"}
    assert type(attrs.value("custom.id")) is str
