"""Just enough of flask, flask_login, flask_appbuilder and the FAB provider to load webserver_config.py
and airgate_api_auth.py's glue in-process. Installed into sys.modules by ``installed()``, removed after."""
import contextlib
import sys
import types

from fab_fakes import FakeSecurityManager


class Anonymous:
    is_authenticated = False
    username = None
    roles = []


class _G(types.SimpleNamespace):
    def __contains__(self, name):
        return name in self.__dict__


class Request:
    def __init__(self, path, headers):
        self.path = path
        self.headers = headers


class Session(dict):
    pass


class Response:
    def __init__(self, body="", status=200, headers=None):
        self.body, self.status_code, self.headers = body, status, dict(headers or {})


class World:
    """The state one request sees."""

    def __init__(self):
        self.g = _G()
        self.request = Request("/", {})
        self.session = Session()
        self.user = Anonymous()
        self.events = []
        self.app = types.SimpleNamespace(config={}, appbuilder=None)

    def login_user(self, user, remember=False):
        self.events.append(("login", user.username, remember))
        self.user = user

    def logout_user(self):
        self.events.append(("logout", self.user.username))
        self.user = Anonymous()

    def new_request(self, path, headers):
        self.g = _G()
        self.request = Request(path, headers)
        self.events = []


class _Proxy:
    def __init__(self, get):
        object.__setattr__(self, "_get", get)

    def __getattr__(self, name):
        return getattr(object.__getattribute__(self, "_get")(), name)

    def __setattr__(self, name, value):
        setattr(object.__getattribute__(self, "_get")(), name, value)

    def __contains__(self, name):
        return name in object.__getattribute__(self, "_get")()


def _modules(world):
    flask = types.ModuleType("flask")
    flask.g = _Proxy(lambda: world.g)
    flask.request = _Proxy(lambda: world.request)
    flask.session = _Proxy(lambda: world.session)
    flask.current_app = _Proxy(lambda: world.app)
    flask.Response = Response
    flask.make_response = lambda body, status, headers: Response(body, status, headers)
    flask_login = types.ModuleType("flask_login")
    flask_login.current_user = _Proxy(lambda: world.user)
    object.__setattr__(flask_login.current_user, "_get_current_object", lambda: world.user)
    flask_login.login_user = lambda user, remember=False: world.login_user(user, remember)
    flask_login.logout_user = lambda: world.logout_user()
    fab = types.ModuleType("flask_appbuilder")
    const = types.ModuleType("flask_appbuilder.const")
    const.AUTH_REMOTE_USER = 3

    class FabAirflowSecurityManagerOverride(FakeSecurityManager):
        def __init__(self):
            super().__init__()
            self.appbuilder = types.SimpleNamespace(get_app=world.app)

        @staticmethod
        def before_request():
            world.g.user = world.user  # as AirflowSecurityManagerV2.before_request does

    override = types.ModuleType("airflow.providers.fab.auth_manager.security_manager.override")
    override.FabAirflowSecurityManagerOverride = FabAirflowSecurityManagerOverride
    mods = {"flask": flask, "flask_login": flask_login, "flask_appbuilder": fab, "flask_appbuilder.const": const,
            "airflow.providers.fab.auth_manager.security_manager.override": override}
    for name in ("airflow", "airflow.providers", "airflow.providers.fab", "airflow.providers.fab.auth_manager",
                 "airflow.providers.fab.auth_manager.security_manager"):
        mods[name] = types.ModuleType(name)
    return mods


@contextlib.contextmanager
def installed(world):
    mods = _modules(world)
    saved = {n: sys.modules.get(n) for n in mods}
    sys.modules.update(mods)
    try:
        yield
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m
