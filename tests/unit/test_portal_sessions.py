"""The portal's cookie sessions sign with one serializer for the life of the process
(services/portal/service.py, OneSignerSessions): a session still round-trips, and a changed
secret key still makes earlier cookies worthless."""
from flask import Flask, session

from services.portal.service import OneSignerSessions


def _app(secret: str) -> Flask:
    app = Flask(__name__)
    app.secret_key = secret
    app.session_interface = OneSignerSessions()

    @app.post("/remember/<word>")
    def remember(word):
        session["word"] = word
        return "kept"

    @app.get("/recall")
    def recall():
        return session.get("word", "nothing")

    return app


def test_one_serializer_serves_every_request_with_the_same_key():
    app = _app("first secret")
    sessions = app.session_interface
    assert sessions.get_signing_serializer(app) is sessions.get_signing_serializer(app)


def test_a_session_round_trips_through_its_cookie():
    client = _app("first secret").test_client()
    assert client.get("/recall").text == "nothing"
    client.post("/remember/printer")
    assert client.get("/recall").text == "printer"


def test_a_new_secret_key_refuses_cookies_signed_with_the_old_one():
    app = _app("first secret")
    client = app.test_client()
    client.post("/remember/printer")
    first = app.session_interface.get_signing_serializer(app)
    app.secret_key = "second secret"
    assert app.session_interface.get_signing_serializer(app) is not first
    assert client.get("/recall").text == "nothing"
