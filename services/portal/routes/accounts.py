"""Accounts over the API: sign up, tokens, password reset, and (admins) users and roles."""
from flask import g, jsonify, request

from .. import domain, identity
from ..schemas import (AcceptedView, CustomerAccountSchema, LoginSchema, ResetConfirmSchema,
                       ResetRequestSchema, RoleChangeSchema, SignupConfirmSchema,
                       SignupSchema, TokenView,
                       UserPageView, UserQuerySchema, UserView)
from ..web import ApiError, json_body, load, query_args

OPERATIONS = [
    ("/api/auth/signup", "post", "Ask for a customer account: answers 202 for every address; "
     "the mailbox gets a link that creates the account (or, if it has one, a note saying so)",
     SignupSchema, AcceptedView, False),
    ("/api/auth/signup/confirm", "post", "Create the account with the token from the emailed "
     "link", SignupConfirmSchema, UserView, False),
    ("/api/auth/token", "post", "Sign in and get a bearer token", LoginSchema, TokenView, False),
    ("/api/auth/token", "delete", "Revoke the bearer token sent with this request", None,
     AcceptedView, True),
    ("/api/auth/password-reset", "post", "Email a password-reset link (answers 202 either way)",
     ResetRequestSchema, AcceptedView, False),
    ("/api/auth/password-reset/confirm", "post", "Set a new password with the emailed token",
     ResetConfirmSchema, UserView, False),
    ("/api/me", "get", "The signed-in user", None, UserView, True),
    ("/api/users", "get", "Users, paged (admins only)", UserQuerySchema, UserPageView, True),
    ("/api/users/{user_id}/role", "post", "Change a user's role (admins only)", RoleChangeSchema,
     UserView, True),
    ("/api/users/{user_id}/customer", "post",
     "Set a customer's organization and plan (admins only); their new tickets carry them",
     CustomerAccountSchema, UserView, True),
]


def register(app, portal):
    users = portal.users

    @app.post("/api/auth/signup")
    @portal.signup_limits
    def signup():
        portal.later(identity.request_sign_up, users, load(SignupSchema(), json_body()),
                     portal.clock.now())
        return jsonify({"status": "accepted"}), 202

    @app.post("/api/auth/signup/confirm")
    @portal.address_limits
    def confirm_signup():
        data = load(SignupConfirmSchema(), json_body())
        user = identity.confirm_sign_up(users, data["token"], portal.clock.now())
        return jsonify(UserView().dump(user)), 201

    @app.post("/api/auth/token")
    @portal.login_limits
    def login():
        data = load(LoginSchema(), json_body())
        user = identity.check_password(users, data["email"], data["password"])
        token, digest = domain.new_token()
        users.save_token(digest, user["_id"], portal.clock.now())
        return jsonify(TokenView().dump({"token": token, "user": user})), 201

    @app.delete("/api/auth/token")
    @portal.requires()
    def logout():
        users.delete_token(domain.token_digest(request.headers["Authorization"][7:].strip()))
        return jsonify({"status": "revoked"})

    @app.post("/api/auth/password-reset")
    @portal.login_limits
    def request_reset():
        data = load(ResetRequestSchema(), json_body())
        portal.later(identity.send_reset_link, users, data["email"])
        return jsonify({"status": "accepted"}), 202

    @app.post("/api/auth/password-reset/confirm")
    @portal.address_limits
    def confirm_reset():
        data = load(ResetConfirmSchema(), json_body())
        return jsonify(UserView().dump(identity.reset_password(users, data["token"],
                                                               data["password"])))

    @app.get("/api/me")
    @portal.requires()
    def me():
        return jsonify(UserView().dump(g.user))

    @app.get("/api/users")
    @portal.requires("admin")
    def list_users():
        q = query_args(UserQuerySchema())
        found, total = users.page(q.get("role"), q["page"], q["per_page"])
        return jsonify(UserPageView().dump({"users": found, "total": total, "page": q["page"],
                                            "per_page": q["per_page"]}))

    @app.post("/api/users/<user_id>/role")
    @portal.requires("admin")
    def change_role(user_id: str):
        data = load(RoleChangeSchema(), json_body())
        if user_id == g.user["_id"]:
            raise ApiError(409, {"role": ["Admins cannot change their own role."]})
        user = users.set_role(user_id[:64], data["role"])
        if user is None:
            raise ApiError(404, {"_schema": ["user not found"]})
        return jsonify(UserView().dump(user))

    @app.post("/api/users/<user_id>/customer")
    @portal.requires("admin")
    def change_customer_account(user_id: str):
        data = load(CustomerAccountSchema(), json_body())
        user = users.set_customer_account(user_id[:64], data["organization"], data["plan"])
        if user is None:
            raise ApiError(404, {"_schema": ["customer not found"]})
        return jsonify(UserView().dump(user))
