"""Analysts (registry/migrations/0004_analysts_group.py) see the dead letters too, and replay none."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP_NAME = "Analysts"


def analysts_view_grant(apps, schema_editor):
    alias = schema_editor.connection.alias
    group = apps.get_model("auth", "Group").objects.using(alias).filter(name=GROUP_NAME).first()
    if group is None:
        return
    # Permissions are normally created after `migrate` finishes (post_migrate); this migration
    # needs them now (see registry 0004 for why models_module is set for the call).
    app_config = apps.get_app_config("kafka_bridge")
    app_config.models_module = True
    try:
        create_permissions(app_config, apps=apps, verbosity=0, using=alias)
    finally:
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    group.permissions.add(
        *Permission.objects.using(alias).filter(content_type__app_label="kafka_bridge", codename="view_deadletter")
    )


def analysts_view_revoke(apps, schema_editor):
    alias = schema_editor.connection.alias
    group = apps.get_model("auth", "Group").objects.using(alias).filter(name=GROUP_NAME).first()
    if group is not None:
        Permission = apps.get_model("auth", "Permission")
        group.permissions.remove(
            *Permission.objects.using(alias).filter(content_type__app_label="kafka_bridge", codename="view_deadletter")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("kafka_bridge", "0001_dead_letters"),
        ("registry", "0004_analysts_group"),
    ]

    operations = [
        migrations.RunPython(analysts_view_grant, analysts_view_revoke),
    ]
