from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import g, jsonify

from .. import domain
from ..schemas import LoginSchema, SignupSchema, TokenView, UserView
from ..web import ApiError, json_body, load

OPERATIONS = [
    ("/api/auth/signup", "post", "Create a customer account", SignupSchema, UserView, False),
    ("/api/auth/token", "post", "Sign in and get a bearer token", LoginSchema, TokenView, False),
    ("/api/me", "get", "The signed-in user", None, UserView, True),
]


def register(app, portal):
    hasher = PasswordHasher()
    users = portal.users

    @app.post("/api/auth/signup")
    def signup():
        data = load(SignupSchema(), json_body())
        user = users.create(email=data["email"], name=data["name"], role="customer",
                            password_hash=hasher.hash(data["password"]), language=data["language"])
        if user is None:
            existing = users.by_email(data["email"])
            if existing and existing["password_hash"] is None:
                # Filed tickets anonymously before: claim the account with a password now.
                users.set_password(existing["_id"], hasher.hash(data["password"]))
                user = existing
            else:
                raise ApiError(409, {"email": ["An account with this email already exists."]})
        return jsonify(UserView().dump(user)), 201

    @app.post("/api/auth/token")
    def login():
        data = load(LoginSchema(), json_body())
        user = users.by_email(data["email"])
        try:
            if user is None or not user["password_hash"]:
                raise VerificationError()
            hasher.verify(user["password_hash"], data["password"])
        except (VerificationError, InvalidHashError):
            raise ApiError(401, {"_schema": ["Wrong email or password."]}) from None
        token, digest = domain.new_token()
        users.save_token(digest, user["_id"], portal.clock.now())
        return jsonify(TokenView().dump({"token": token, "user": user})), 201

    @app.get("/api/me")
    @portal.requires()
    def me():
        return jsonify(UserView().dump(g.user))
