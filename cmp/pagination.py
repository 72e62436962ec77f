from django.core.paginator import Paginator
from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


class DeferredJoinPaginator(Paginator):
    """Finds the page's primary keys in a narrow subquery, then loads and joins only those rows.

    Ordering a large, joined list of wide rows to reach page 400 sorts every row with all its columns and
    spills to disk; ordering the keys alone stays in memory. Still one query per page.
    """

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        page_keys = self.object_list.values("pk")[bottom:top]
        return self._get_page(self.object_list.filter(pk__in=page_keys), number, self)


class LargeListPagination(PageNumberPagination):
    """For big sorted lists such as the public catalogue. The queryset must be ordered by unique keys."""

    django_paginator_class = DeferredJoinPaginator
