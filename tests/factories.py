import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from core.actors import Actor
from incidents import groups
from incidents.models import Category, ConfigurationItem, Person, SecurityIncident


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@soc.example.com")
    password = factory.django.Password("pw")


class AnalystFactory(UserFactory):
    class Meta:
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"analyst{n}")
    is_staff = True

    @factory.post_generation
    def in_group(self, create, extracted, **kwargs):
        if create:
            self.groups.add(Group.objects.get(name=groups.SOC_ANALYST))


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person
        django_get_or_create = ("email",)

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"person{n}@corp.example.com")
    department = "Finance"
    title = "Accountant"


class ConfigurationItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConfigurationItem

    name = factory.Sequence(lambda n: f"LAPTOP-{n:04d}")
    kind = ConfigurationItem.Kind.LAPTOP
    hostname = factory.LazyAttribute(lambda ci: f"{ci.name.lower()}.corp.example.com")


def category(slug: str = "failed-login") -> Category:
    """The seeded categories exist in every test database (data migration)."""
    return Category.objects.get(slug=slug)


def open_incident(**kwargs) -> SecurityIncident:
    """An incident opened through the service, as everywhere in the app."""
    from incidents.services import incident_open

    kwargs.setdefault("actor", Actor.system())
    kwargs.setdefault("short_description", "Failed sign-ins for a user")
    kwargs.setdefault("category", category())
    kwargs.setdefault("priority", SecurityIncident.Priority.MODERATE)
    incident, _ = incident_open(**kwargs)
    return incident
