"""Users, sign-in and sessions: argon2id hashes, lockout with back-off, idle timeout, CSRF on
every browser write, sign-out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from daytwo.errors import AuthenticationRequired, ConflictError, InputError
from daytwo.governance import accounts
from daytwo.governance.models import Role, UiSession, User
from daytwo.store.ledger import Ledger
from tests.factory import interaction

PASSWORD = "correct horse battery staple"


def ledger_of(client: TestClient) -> Ledger:
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    return ledger


def test_passwords_are_stored_as_argon2id_and_never_in_the_audit(client: TestClient) -> None:
    ledger = ledger_of(client)
    accounts.create_user(ledger, "vera", PASSWORD, Role.viewer, grants=("care-bot",))
    with ledger.session() as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "vera"))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    from daytwo.governance import audit

    for entry in audit.entries(ledger):
        assert PASSWORD not in str(entry.after) + str(entry.before)


def test_short_passwords_and_duplicate_users_are_refused(client: TestClient) -> None:
    ledger = ledger_of(client)
    with pytest.raises(InputError, match="12 characters"):
        accounts.create_user(ledger, "short", "abc", Role.viewer)
    accounts.create_user(ledger, "dup", PASSWORD, Role.viewer)
    with pytest.raises(ConflictError):
        accounts.create_user(ledger, "dup", PASSWORD, Role.viewer)


def test_lockout_backs_off_and_a_good_password_waits_it_out(client: TestClient) -> None:
    ledger = ledger_of(client)
    accounts.create_user(ledger, "otto", PASSWORD, Role.owner)
    lockout = accounts.Lockout(free_failures=3, base_seconds=10, max_seconds=60)
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for _ in range(2):
        with pytest.raises(AuthenticationRequired, match="Wrong username or password"):
            accounts.sign_in(ledger, "otto", "wrong password!", lockout=lockout, now=now)
    with pytest.raises(AuthenticationRequired):
        accounts.sign_in(ledger, "otto", "wrong password!", lockout=lockout, now=now)
    # Third failure: locked 10 s; even the right password is refused meanwhile.
    with pytest.raises(AuthenticationRequired, match="try again in"):
        accounts.sign_in(ledger, "otto", PASSWORD, lockout=lockout, now=now)
    later = now + timedelta(seconds=11)
    with pytest.raises(AuthenticationRequired):
        accounts.sign_in(ledger, "otto", "wrong again!!", lockout=lockout, now=later)
    # Fourth failure doubles the wait.
    assert lockout.seconds_for(4) == 20
    assert lockout.seconds_for(10) == 60
    with pytest.raises(AuthenticationRequired, match=r"try again in 2[01] seconds"):
        accounts.sign_in(ledger, "otto", PASSWORD, lockout=lockout, now=later)
    signed = accounts.sign_in(
        ledger, "otto", PASSWORD, lockout=lockout, now=later + timedelta(seconds=21)
    )
    assert signed.username == "otto"
    with ledger.session() as s:
        user = s.scalar(select(User).where(User.username == "otto"))
        assert user is not None
        assert (user.failed_logins, user.locked_until) == (0, None)


def test_unknown_users_get_the_same_answer(client: TestClient) -> None:
    with pytest.raises(AuthenticationRequired, match="Wrong username or password"):
        accounts.sign_in(ledger_of(client), "nobody", PASSWORD)


def test_sessions_expire_when_idle_and_on_password_reset(client: TestClient) -> None:
    ledger = ledger_of(client)
    accounts.create_user(ledger, "anna", PASSWORD, Role.analyst)
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    signed = accounts.sign_in(ledger, "anna", PASSWORD, now=t0)
    idle = timedelta(minutes=30)
    assert accounts.resume(ledger, signed.token, idle=idle, now=t0 + timedelta(minutes=20))
    # Each use moves the idle clock.
    assert accounts.resume(ledger, signed.token, idle=idle, now=t0 + timedelta(minutes=45))
    assert accounts.resume(ledger, signed.token, idle=idle, now=t0 + timedelta(minutes=80)) is None
    signed = accounts.sign_in(ledger, "anna", PASSWORD)
    accounts.update_user(ledger, "anna", password="a brand new password")
    assert accounts.resume(ledger, signed.token, idle=idle) is None


def _sign_in_form(anon: TestClient, username: str, password: str) -> object:
    form = anon.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    return anon.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )


def test_browser_sign_in_csrf_and_sign_out(anon_client: TestClient) -> None:
    ledger = ledger_of(anon_client)
    accounts.create_user(ledger, "root", PASSWORD, Role.admin)
    page = anon_client.get("/overview", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Foverview"
    # A login form posted without the token of its own form is refused.
    forged = anon_client.post(
        "/login", data={"username": "root", "password": PASSWORD, "csrf_token": "x"}
    )
    assert forged.status_code == 403
    r = _sign_in_form(anon_client, "root", PASSWORD)
    assert r.status_code == 303  # type: ignore[attr-defined]
    cookie = r.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "daytwo_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    home = anon_client.get("/")
    assert home.status_code == 200
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', home.text)
    assert csrf, "pages carry the CSRF token for HTMX"
    body = {"interactions": [interaction(1)]}
    # A browser write without the token: refused, nothing stored.
    refused = anon_client.post("/api/v1/ingest", json=body)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    wrong = anon_client.post("/api/v1/ingest", json=body, headers={"x-csrf-token": "nope"})
    assert wrong.status_code == 403
    ok = anon_client.post("/api/v1/ingest", json=body, headers={"x-csrf-token": csrf.group(1)})
    assert ok.status_code == 200, ok.text
    # Sign-out needs the token too, and ends the session on the server.
    assert anon_client.post("/logout", data={}).status_code == 403
    out = anon_client.post("/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    with ledger.session() as s:
        assert s.scalars(select(UiSession)).all() == []
    assert anon_client.get("/", follow_redirects=False).status_code == 303


def test_a_tampered_session_cookie_is_anonymous(anon_client: TestClient) -> None:
    ledger = ledger_of(anon_client)
    accounts.create_user(ledger, "root", PASSWORD, Role.admin)
    signed = accounts.sign_in(ledger, "root", PASSWORD)
    anon_client.cookies.set("daytwo_session", f"{signed.token}.{'0' * 64}")
    assert anon_client.get("/api/v1/deployments").status_code == 401


def test_a_missing_page_keeps_the_signed_in_navigation(anon_client: TestClient) -> None:
    """No route runs for an address that is no page, so the error page asks who is signed in
    itself: the person keeps their name, Sign out and Admin."""
    accounts.create_user(ledger_of(anon_client), "root", PASSWORD, Role.admin)
    anonymous = anon_client.get("/no-such-page")
    assert anonymous.status_code == 404
    assert "Sign out" not in anonymous.text
    assert _sign_in_form(anon_client, "root", PASSWORD).status_code == 303  # type: ignore[attr-defined]
    missing = anon_client.get("/no-such-page")
    assert missing.status_code == 404
    assert "There is no page at /no-such-page." in missing.text
    assert "Sign out" in missing.text
    assert 'href="/admin/users"' in missing.text
    # a session cookie that no longer holds answers the anonymous page, not an error
    anon_client.cookies.clear()
    anon_client.cookies.set("daytwo_session", "stale")
    stale = anon_client.get("/no-such-page")
    assert stale.status_code == 404
    assert "Sign out" not in stale.text


def test_the_login_page_never_redirects_off_site(anon_client: TestClient) -> None:
    accounts.create_user(ledger_of(anon_client), "root", PASSWORD, Role.admin)
    form = anon_client.get("/login", params={"next": "https://evil.example/"})
    assert 'name="next" value="/"' in form.text


def test_every_post_form_carries_a_csrf_token() -> None:
    """HTMX requests send the token from <body hx-headers>; plain forms need the field."""
    from daytwo.http.templating import TEMPLATES_DIR

    forms = []
    for template in sorted(TEMPLATES_DIR.glob("*.html")):
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(), re.S):
            if re.search(r'method="post"', form, re.I):
                forms.append((template.name, form))
    assert forms, "no forms found: the pattern is wrong"
    missing = [name for name, form in forms if 'name="csrf_token"' not in form]
    assert missing == []
    base = (TEMPLATES_DIR / "base.html").read_text()
    assert 'hx-headers=\'{"X-CSRF-Token"' in base
