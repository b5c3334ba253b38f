from __future__ import annotations

import json

import pytest
from django.test import Client

from registry.models import SchemaRevision

pytestmark = pytest.mark.usefixtures("catalogue")
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def test_it_lists_the_subjects():
    response = Client().get("/schema-registry/subjects")
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPE
    assert response.json() == ["org.openstax.ec.nudged_v1"]


def test_it_serves_a_schema_by_its_global_id():
    revision = SchemaRevision.objects.get(major__full_name="org.openstax.ec.nudged_v1")
    response = Client().get(f"/schema-registry/schemas/ids/{revision.pk}")
    assert response.status_code == 200
    schema = json.loads(response.json()["schema"])
    assert (schema["namespace"], schema["name"]) == ("org.openstax.ec", "nudged_v1")


def test_it_answers_an_unknown_schema_id_with_40403():
    response = Client().get("/schema-registry/schemas/ids/999999")
    assert response.status_code == 404
    assert response["Content-Type"] == CONTENT_TYPE
    assert response.json()["error_code"] == 40403
