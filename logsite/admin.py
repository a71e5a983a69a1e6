class ReadOnlyAdminMixin:
    """Admin pages that show data written elsewhere (logs by programs, the ledger by the archiver)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
