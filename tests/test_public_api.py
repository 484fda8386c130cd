"""The public surface is exported once, on purpose."""

import daytwo


def test_public_names() -> None:
    assert daytwo.__all__ == ["Client", "ClientStats", "UndeliveredRecord", "__version__"]
    for name in daytwo.__all__:
        assert hasattr(daytwo, name)
