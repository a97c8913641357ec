def pytest_addoption(parser, pluginmanager):
    if pluginmanager.is_blocked("doctest"):
        parser.addoption("--doctest-modules", action="store_true", help="x")
