"""`/api/v1/` routes of the invoices app: invoices, payments and a membership's pay-now."""

from django.urls import path

from . import apis

urlpatterns = [
    path("invoices/", apis.InvoiceListApi.as_view(), name="invoice-list"),
    path("invoices/<int:pk>/", apis.InvoiceDetailApi.as_view(), name="invoice-detail"),
    path("invoices/<int:pk>/pdf/", apis.InvoicePdfApi.as_view(), name="invoice-pdf"),
    path("invoices/<int:pk>/payments/", apis.InvoicePaymentRecordApi.as_view(), name="invoice-payments"),
    path("invoices/<int:pk>/void/", apis.InvoiceVoidApi.as_view(), name="invoice-void"),
    path("invoices/<int:pk>/refund/", apis.InvoiceRefundApi.as_view(), name="invoice-refund"),
    path("payments/setup-intent/", apis.PaymentSetupIntentApi.as_view(), name="payment-setup-intent"),
    path("memberships/<int:pk>/pay/", apis.MembershipPayApi.as_view(), name="membership-pay"),
]
