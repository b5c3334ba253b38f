"""Revision 2 of org.adlnet.xapi.Statement appends union branches (a Group object and authority),
which a reader of revision 1 cannot resolve: not FORWARD compatible, so the major moves from
FULL_TRANSITIVE to BACKWARD_TRANSITIVE, and `load_schemas` can publish the revision. A major whose
level an analyst already changed keeps it."""

from django.db import migrations

XAPI_STATEMENT = "org.adlnet.xapi.Statement"


def xapi_backward_transitive(apps, schema_editor):
    EventMajor = apps.get_model("registry", "EventMajor")
    EventMajor.objects.filter(full_name=XAPI_STATEMENT, compatibility="FULL_TRANSITIVE").update(
        compatibility="BACKWARD_TRANSITIVE"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0005_major_topic"),
    ]

    # Not undone: once revision 2 is published, FULL_TRANSITIVE would no longer hold for the major.
    operations = [migrations.RunPython(xapi_backward_transitive, migrations.RunPython.noop)]
