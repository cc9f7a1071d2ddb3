"""Tiny stand-ins for the FAB security manager and its users (no Flask, no Airflow)."""


class Role:
    def __init__(self, name):
        self.name = name


class User:
    def __init__(self, username, role, active=True):
        self.username = username
        self.roles = [role]
        self.is_active = active
        self.is_authenticated = True
        self.login_count = 0


class FakeSecurityManager:
    """find_role / find_user / add_user / update_user / update_user_auth_stat / _rotate_session_id, as FAB has them."""

    def __init__(self, roles=("Admin", "Op", "User", "Viewer", "Public")):
        self.roles = {n: Role(n) for n in roles}
        self.users = {}
        self.add_user_fails = False
        self.update_user_fails = False
        self.calls = []

    def find_role(self, name):
        return self.roles.get(name)

    def find_user(self, username=None, email=None):
        return self.users.get(username.casefold())  # FAB matches user names case-insensitively

    def add_user(self, username, first_name, last_name, email, role, password="", hashed_password=""):
        self.calls.append(("add_user", username, first_name, last_name, email, role.name))
        if self.add_user_fails:
            return False
        user = self.users[username.casefold()] = User(username, role)
        return user

    def update_user(self, user):
        self.calls.append(("update_user", user.username, [r.name for r in user.roles]))
        return False if self.update_user_fails else None

    def update_user_auth_stat(self, user, success=True):
        self.calls.append(("update_user_auth_stat", user.username))
        user.login_count += 1

    def _rotate_session_id(self):
        self.calls.append(("rotate",))


class FakeFlaskLogin:
    """login_user / logout_user over a dict session, recording the order of calls."""

    def __init__(self, session, user=None):
        self.session = session
        self.user = user
        self.events = []

    def login_user(self, user, remember=False):
        self.events.append(("login", user.username, remember))
        self.user = user
        self.session["_user_id"] = user.username

    def logout_user(self):
        self.events.append(("logout", self.user.username if self.user else None))
        self.user = None
        self.session.pop("_user_id", None)
