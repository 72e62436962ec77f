"""Reviews: an organisation that subscribed to an offering rates it once."""

from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count

from marketplace.errors import ApplicationError, ConflictError
from marketplace.models import Offering, Organization, ResourceState, Review


@transaction.atomic
def review_create(
    *, offering: Offering, organization: Organization, author, rating: int, text: str = ""
) -> Review:
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ApplicationError(
            "A rating is a whole number from 1 to 5.", errors={"rating": ["Choose 1 to 5."]}
        )
    has_subscribed = (
        organization.resources.filter(offering=offering).exclude(state=ResourceState.CREATING).exists()
    )
    if not has_subscribed:
        raise ConflictError(
            "Only organisations that subscribed to this offering can review it.", code="not_a_customer"
        )
    offering = Offering.objects.select_for_update().get(pk=offering.pk)  # serialise rating updates
    try:
        with transaction.atomic():
            review = Review.objects.create(
                offering=offering, organization=organization, author=author, rating=rating, text=text.strip()
            )
    except IntegrityError as error:
        raise ConflictError(
            "Your organisation has already reviewed this offering.", code="already_reviewed"
        ) from error
    stats = offering.reviews.aggregate(average=Avg("rating"), count=Count("id"))
    average = Decimal(stats["average"] or 0).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    Offering.objects.filter(pk=offering.pk).update(rating_average=average, rating_count=stats["count"])
    return review
