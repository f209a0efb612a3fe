"""Dashboard pages of the invoices app (under /billing/), and the member's self-serve
links (update the saved card, pay an invoice online)."""

from django.urls import path

from . import views

app_name = "invoices"

urlpatterns = [
    path("", views.billing_overview_view, name="overview"),
    path("invoices/", views.invoice_list_view, name="list"),
    path("invoices/new/", views.invoice_create_view, name="create"),
    path("invoices/<int:invoice_id>/", views.invoice_detail_view, name="detail"),
    path("invoices/<int:invoice_id>/pdf/", views.invoice_pdf_view, name="pdf"),
    path("invoices/<int:invoice_id>/pay/", views.invoice_payment_view, name="pay"),
    path("invoices/<int:invoice_id>/charge/", views.invoice_charge_view, name="charge"),
    path("invoices/<int:invoice_id>/credit/", views.invoice_credit_view, name="credit"),
    path("invoices/<int:invoice_id>/refund/", views.invoice_refund_view, name="refund"),
    path("invoices/<int:invoice_id>/void/", views.invoice_void_view, name="void"),
    path("stripe/connect/", views.stripe_connect_view, name="stripe-connect"),
    path("stripe/return/", views.stripe_return_view, name="stripe-return"),
    path("card/done/", views.member_card_done_view, name="card-done"),
    path("card/<str:token>/", views.member_card_view, name="card"),
    path("pay/<str:token>/", views.invoice_pay_view, name="pay-link"),
]
