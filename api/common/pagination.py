from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Cursor pagination, newest first, with a capped page size.

    A cursor stays correct while rows are inserted, unlike page numbers, and costs
    the same on page 1 and page 1,000.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-id")
