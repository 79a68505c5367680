"""Helpers shared by the tests (fixtures stay in the ``conftest.py`` files).

- ``fakeapi``: a scripted product endpoint on top of aioresponses, for unit tests of the client.
- ``cli``: runs the real ``asa-bulk`` command in a subprocess and explains a failure.
- ``sandbox``: test keys and a tiny GET helper for the sandbox server's own tests.
- ``records``: made-up result records for the checkpoint tests.
- ``options``: checks of a public signature against the one declaration of the options.
- ``aioresponses_compat``: makes aioresponses work with aiohttp 3.14.
"""
