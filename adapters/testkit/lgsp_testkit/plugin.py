"""pytest plugin of the adapter test kit: registered through the ``pytest11`` entry point so
that pytest rewrites the assertions of the contract suite in an integrator's own test run."""

import pytest

pytest.register_assert_rewrite("lgsp_testkit.contract")
