import pytest

from wsol.registry import Registry


def test_register_get_and_list():
    reg = Registry("backbone")

    @reg.register("tiny")
    def build_tiny():
        return "tiny"

    @reg.register()
    def other():
        return "other"

    assert reg.get("tiny")() == "tiny"
    assert reg.names() == ["other", "tiny"] and "tiny" in reg and len(reg) == 2


def test_unknown_name_lists_known_ones():
    reg = Registry("method")
    reg.register("acol")(lambda: None)
    reg.register("cam")(lambda: None)
    with pytest.raises(KeyError, match=r"unknown method 'acl'; known: acol, cam"):
        reg.get("acl")


def test_duplicate_registration_is_refused():
    reg = Registry("method")
    reg.register("cam")(lambda: None)
    with pytest.raises(KeyError, match="already registered"):
        reg.register("cam")(lambda: None)
