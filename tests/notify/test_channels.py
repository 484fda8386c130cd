"""Every channel against its real receiver: a signed webhook, a Slack-shaped webhook, SMTP
with login; and the failures a person must be able to read."""

from __future__ import annotations

import pytest

from daytwo.errors import InputError, NotFoundError
from daytwo.notify import outbox, service
from daytwo.notify.schemas import ChannelCreate, PreferenceSet, RouteCreate
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger
from tests.notify.conftest import SECRET
from tests.notify.receivers import SmtpServer, WebhookReceiver

KEY = b"server-key"


def webhook(ledger: Ledger, url: str, name: str = "hook") -> None:
    service.create_channel(
        ledger, ChannelCreate(name=name, kind="webhook", url=url, secret=SECRET), server_key=KEY,
        actor="t",
    )  # fmt: skip


def test_webhook_is_signed_and_carries_an_idempotency_key(
    lite: Ledger, settings: Settings, receiver: WebhookReceiver
) -> None:
    settings = settings.model_copy(update={"session_secret": None})
    service.create_channel(
        lite, ChannelCreate(name="hook", kind="webhook", url=receiver.url, secret=SECRET),
        server_key=settings.session_key(), actor="t",
    )  # fmt: skip
    detail = outbox.send_test(lite, settings, "hook", actor="ana")
    assert detail.status == "delivered", detail.last_error
    [got] = receiver.received
    assert got.signature_ok is True
    assert got.idempotency_key == detail.idempotency_key == got.json()["idempotency_key"]
    assert got.json()["event"] == "test"
    assert got.json()["schema"] == "daytwo.alert/v1"
    assert detail.log[0].ok
    assert detail.log[0].status_code == 200


def test_a_receiver_with_another_secret_refuses_and_the_failure_is_logged(
    lite: Ledger, settings: Settings
) -> None:
    other = WebhookReceiver(secret="another-secret-of-enough-length").start()
    try:
        service.create_channel(
            lite, ChannelCreate(name="hook", kind="webhook", url=other.url, secret=SECRET),
            server_key=settings.session_key(), actor="t",
        )  # fmt: skip
        detail = outbox.send_test(lite, settings, "hook", actor="ana")
    finally:
        other.stop()
    assert detail.status == "pending"  # to be retried, not lost
    assert "answered 401" in detail.last_error
    assert detail.log[0].status_code == 401


def test_slack_message_is_block_kit(
    lite: Ledger, settings: Settings, receiver: WebhookReceiver
) -> None:
    receiver.secret = None  # Slack does not sign what it receives
    service.create_channel(
        lite, ChannelCreate(name="slack", kind="slack", url=receiver.url),
        server_key=settings.session_key(), actor="t",
    )  # fmt: skip
    [shown] = service.list_channels(lite)
    assert receiver.url not in shown.model_dump_json()  # the webhook URL is the secret
    detail = outbox.send_test(lite, settings, "slack", actor="ana")
    assert detail.status == "delivered", detail.last_error
    message = receiver.received[0].json()
    assert isinstance(message["text"], str)
    assert message["text"]
    kinds = [b["type"] for b in message["blocks"]]
    assert kinds[0] == "header"
    assert kinds[-1] == "context"
    assert set(kinds) <= {"header", "section", "actions", "context", "divider"}
    header = message["blocks"][0]["text"]
    assert header["type"] == "plain_text"
    assert len(header["text"]) <= 150
    for block in message["blocks"]:
        for f in block.get("fields", []):
            assert f["type"] == "mrkdwn"
    assert len(message["blocks"][1]["fields"]) <= 10


def test_email_over_smtp_with_login_is_multipart(
    lite: Ledger, settings: Settings, smtp: SmtpServer
) -> None:
    service.create_channel(
        lite,
        ChannelCreate(
            name="mail", kind="email", smtp_host="127.0.0.1", smtp_port=smtp.port,
            smtp_security="none", smtp_username="daytwo", secret="mail-pass",
            sender="alerts@daytwo.example", recipients=["oncall@bank.example"],
        ),
        server_key=settings.session_key(), actor="t",
    )  # fmt: skip
    detail = outbox.send_test(lite, settings, "mail", actor="ana")
    assert detail.status == "delivered", detail.last_error
    [mail] = smtp.messages
    assert smtp.mailbox.logins == [True]
    assert mail["To"] == "oncall@bank.example"
    assert mail["X-Daytwo-Idempotency-Key"] == detail.idempotency_key
    assert mail.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in mail.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert "Test message" in mail["Subject"]


def test_wrong_smtp_credentials_are_a_visible_failure(
    lite: Ledger, settings: Settings, smtp: SmtpServer
) -> None:
    service.create_channel(
        lite,
        ChannelCreate(
            name="mail", kind="email", smtp_host="127.0.0.1", smtp_port=smtp.port,
            smtp_security="none", smtp_username="daytwo", secret="wrong",
            sender="alerts@daytwo.example", recipients=["oncall@bank.example"],
        ),
        server_key=settings.session_key(), actor="t",
    )  # fmt: skip
    detail = outbox.send_test(lite, settings, "mail", actor="ana")
    assert detail.status == "pending"
    assert "refused the credentials of 'daytwo'" in detail.last_error
    assert detail.log[0].status_code == 535
    assert smtp.messages == []


def test_starttls_against_a_server_without_it_and_an_unreachable_host_fail_clearly(
    lite: Ledger, settings: Settings, smtp: SmtpServer
) -> None:
    for name, port, security in [("tls-less", smtp.port, "starttls"), ("nowhere", 9, "none")]:
        service.create_channel(
            lite,
            ChannelCreate(
                name=name, kind="email", smtp_host="127.0.0.1", smtp_port=port,
                smtp_security=security, sender="a@daytwo.example", recipients=["b@bank.example"],
                timeout_s=2,
            ),
            server_key=settings.session_key(), actor="t",
        )  # fmt: skip
    assert (
        "does not offer STARTTLS"
        in outbox.send_test(lite, settings, "tls-less", actor="a").last_error
    )
    assert (
        "cannot send through 127.0.0.1:9"
        in outbox.send_test(lite, settings, "nowhere", actor="a").last_error
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "webhook", "url": "ftp://example.com/x"}, "must be an http"),
        ({"kind": "webhook", "url": "example.com/hook"}, "must be an http"),
        ({"kind": "webhook", "url": "https://example.com/h", "secret": "short"}, "at least 24"),
        ({"kind": "slack", "url": "hooks.slack.com/x"}, "must be an http"),
        ({"kind": "email", "sender": "a@b.example"}, "needs smtp_host"),
        ({"kind": "email", "smtp_host": "mail", "sender": "nobody"}, "not an e-mail address"),
        ({"kind": "email", "smtp_host": "m", "sender": "a@b.example", "smtp_username": "u"},
         "needs a password"),
        ({"kind": "apprise", "url": "nosuchservice://token"}, "scheme 'nosuchservice'"),
        ({"kind": "apprise", "url": "discord"}, "An Apprise URL looks like"),
    ],
)  # fmt: skip
def test_bad_channels_are_refused_at_creation(
    lite: Ledger, spec: dict[str, str], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        service.create_channel(
            lite,
            ChannelCreate(name="c", **spec),
            server_key=KEY,
            actor="t",  # type: ignore[arg-type]
        )
    assert service.list_channels(lite) == []


def test_a_webhook_without_a_secret_gets_one_shown_once(lite: Ledger) -> None:
    created = service.create_channel(
        lite, ChannelCreate(name="c", kind="webhook", url="https://example.com/h"),
        server_key=KEY, actor="t",
    )  # fmt: skip
    assert created.generated_secret is not None
    assert len(created.generated_secret) >= 32
    assert created.generated_secret not in service.list_channels(lite)[0].model_dump_json()


def test_routes_and_preferences_refuse_what_cannot_work(lite: Ledger) -> None:
    webhook(lite, "https://example.com/h")
    with pytest.raises(NotFoundError, match="No owner with handle 'nobody'"):
        service.add_route(lite, RouteCreate(channel="hook", owner="nobody"), actor="t")
    with pytest.raises(NotFoundError, match="No notification channel named 'nope'"):
        service.add_route(lite, RouteCreate(channel="nope"), actor="t")
    with pytest.raises(InputError, match="no journey 'moon'"):
        service.add_route(
            lite, RouteCreate(channel="hook", deployment="care-bot", journey="moon"), actor="t"
        )
    with pytest.raises(InputError, match="look like 22:00-07:00"):
        service.set_preference(lite, "ana", PreferenceSet(quiet_hours="late"))
    with pytest.raises(InputError, match="unknown time zone"):
        service.set_preference(lite, "ana", PreferenceSet(timezone="Europe/Atlantis"))


def test_apprise_sends_through_its_service_url_and_keeps_it_secret(
    lite: Ledger, settings: Settings
) -> None:
    """Apprise's json:// service posting to a local receiver: a real message arrives, the
    URL (a service's credential) is never shown, and a receiver that is down is a failure
    with Apprise's own reason, kept for a retry."""
    plain = WebhookReceiver(secret=None).start()
    try:
        url = plain.url.replace("http://", "json://") + "/alerts"
        created = service.create_channel(
            lite, ChannelCreate(name="other", kind="apprise", url=url),
            server_key=settings.session_key(), actor="t",
        )  # fmt: skip
        assert created.channel.target == "apprise json://"
        assert url not in created.channel.model_dump_json()
        detail = outbox.send_test(lite, settings, "other", actor="ana")
        assert detail.status == "delivered", detail.last_error
        [got] = plain.received
        assert got.path.endswith("/alerts")
        body = got.json()
        assert body["title"].startswith("[TEST]") or "test" in body["title"].lower()
        assert "Deployment:" in body["message"]
        plain.mode = "down"
        failed = outbox.send_test(lite, settings, "other", actor="ana")
    finally:
        plain.stop()
    assert failed.status == "pending"  # retried later, not lost
    assert "Apprise could not send to json://" in failed.last_error
    assert failed.log[0].ok is False
