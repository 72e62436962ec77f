"""`manage.py seed_demo`: the demo marketplace for `make run` (see demo/data.py). Safe to run again."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo.data import DEFAULT_DEMO_PASSWORD, DemoError, demo_password, sample_flows_build, seed_demo


class Command(BaseCommand):
    help = "Create the demo users, seller, listings and customer (idempotent) and print the demo sign-ins."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--base-url",
            default=settings.SITE_URL,
            help="Where the site is served, for the links printed at the end (default: SITE_URL).",
        )
        parser.add_argument(
            "--flows-dir",
            default=str(Path(settings.BASE_DIR) / ".data" / "sample-flows"),
            help="Where the sample products' flows are (built there with lfx when the folder is empty).",
        )

    def handle(self, *args, base_url: str, flows_dir: str, **options) -> None:
        password = demo_password()
        if not settings.DEBUG and password == DEFAULT_DEMO_PASSWORD:
            raise CommandError(
                "Refusing to create accounts with the published demo password while DEBUG is off. "
                "Set CMP_DEMO_PASSWORD, and never seed demo accounts on a real deployment."
            )
        try:
            result = seed_demo(flows=sample_flows_build(Path(flows_dir)), password=password)
        except DemoError as error:
            raise CommandError(str(error)) from error
        base_url = base_url.rstrip("/")
        if result.created:
            self.stdout.write(self.style.SUCCESS(f"Demo data: created {len(result.created)} objects:"))
            for line in result.created:
                self.stdout.write(f"  - {line}")
        else:
            self.stdout.write("Demo data: already in place, nothing to do.")
        for note in result.notes:
            self.stdout.write(self.style.WARNING(note))
        width = max(len(sign_in.email) for sign_in in result.sign_ins)
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"CMP is starting at {base_url}/marketplace/"))
        self.stdout.write(f"Operators: {base_url}/admin/")
        self.stdout.write("Demo sign-ins (local demo only; the password comes from CMP_DEMO_PASSWORD):")
        for sign_in in result.sign_ins:
            self.stdout.write(f"  {sign_in.email.ljust(width)}  {sign_in.password}  {sign_in.role}")
        self.stdout.write("")
