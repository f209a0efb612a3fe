"""Which column of the file feeds which member field: `FIELD_ALIASES` (the headers,
normalised, that mean each field, best first), `normalise_header` ("E-mail Address" ->
"emailaddress"), and `_map_headers`, which turns a header row into a `_Mapping`
(field -> columns, best first; "phone" keeps fallbacks). Pure functions over strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Our fields and the headers (normalised: lowercase letters and digits only) that
# mean them, best first. For "phone", later headers are fallbacks used when the
# earlier ones are empty in a row (e.g. "Mobile Phone" then "Home Phone"); for every
# other field the best header present wins and the rest are ignored.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": (
        "firstname", "first", "givenname", "givennames", "forename", "forenames", "fname",
        "memberfirstname", "clientfirstname", "customerfirstname", "contactfirstname", "namefirst",
    ),
    "last_name": (
        "lastname", "last", "surname", "familyname", "lname",
        "memberlastname", "clientlastname", "customerlastname", "contactlastname", "namelast",
    ),
    "full_name": ("fullname", "name", "membername", "clientname", "customername", "contactname", "displayname"),
    "email": (
        "email", "emailaddress", "mail", "memberemail", "clientemail", "customeremail", "primaryemail",
        "contactemail",
    ),
    "phone": (
        "mobile", "mobilephone", "mobilenumber", "mobileno", "cell", "cellphone", "cellnumber", "cellphonenumber",
        "phone", "phonenumber", "phoneno", "telephone", "tel", "contactnumber", "primaryphone",
        "homephone", "workphone",
    ),
    "date_of_birth": ("birthdate", "dateofbirth", "dob", "birthday", "born"),
    "joined_on": (
        "joindate", "joined", "joinedon", "datejoined", "joiningdate", "membersince", "memberfrom",
        "signupdate", "signedup", "registrationdate", "registered", "creationdate", "createddate",
        "datecreated", "created", "startdate",
    ),
    "gender": ("gender", "sex"),
    "status": ("status", "memberstatus", "clientstatus"),
    "tags": ("tags", "tag", "labels", "label"),
    "staff_notes": ("notes", "note", "staffnotes", "comments", "comment", "remarks", "membernotes", "clientnotes"),
    "medical_notes": (
        "medicalnotes", "medical", "medicalconditions", "medicalcondition", "medicalinfo", "medicalinformation",
        "healthnotes", "healthconditions", "injuries", "allergies",
    ),
    "emergency_contact_name": (
        "emergencycontact", "emergencycontactname", "emergencyname", "emergencycontactperson", "icename",
        "nextofkin",
    ),
    "emergency_contact_phone": (
        "emergencyphone", "emergencycontactphone", "emergencycontactnumber", "emergencynumber",
        "emergencycontactmobile", "emergencymobile", "icephone", "icenumber", "nextofkinphone",
    ),
    # The parts of a postal address, joined with ", " into `address` in this order.
    "address_line1": ("address", "address1", "addressline1", "streetaddress", "street", "homeaddress", "postaladdress"),
    "address_line2": ("address2", "addressline2"),
    "suburb": ("suburb",),
    "city": ("city", "town"),
    "state": ("state", "province", "county", "region"),
    "postcode": ("postcode", "postalcode", "zip", "zipcode"),
    "country": ("country",),
}  # fmt: skip
FALLBACK_FIELDS = frozenset({"phone"})
ADDRESS_PARTS = ("address_line1", "address_line2", "suburb", "city", "state", "postcode", "country")
NAME_FIELDS = frozenset({"first_name", "full_name"})
_ALIAS_RANK = {alias: (name, rank) for name, aliases in FIELD_ALIASES.items() for rank, alias in enumerate(aliases)}


def normalise_header(header: str) -> str:
    """ "E-mail Address" -> "emailaddress"; "DOB (dd/mm/yyyy)" -> "dob"."""
    header = re.sub(r"\([^)]*\)|\[[^\]]*\]", "", header)
    return "".join(ch for ch in header.lower() if ch.isalnum())


@dataclass
class _Mapping:
    """Which columns feed which field: field -> [(column index, header)], best first."""

    columns: dict[str, list[tuple[int, str]]]

    def field_of(self, index: int) -> str | None:
        for name, cols in self.columns.items():
            if any(i == index for i, _ in cols):
                return name
        return None

    @property
    def has_name(self) -> bool:
        return bool(NAME_FIELDS & self.columns.keys())

    def header(self, name: str) -> str | None:
        cols = self.columns.get(name)
        return cols[0][1] if cols else None


def _map_headers(cells: list[str]) -> _Mapping:
    found: dict[str, list[tuple[int, int, str]]] = {}
    for index, header in enumerate(cells):
        hit = _ALIAS_RANK.get(normalise_header(header))
        if hit:
            name, rank = hit
            found.setdefault(name, []).append((rank, index, header.strip()))
    columns: dict[str, list[tuple[int, str]]] = {}
    for name, hits in found.items():
        hits.sort()
        keep = hits if name in FALLBACK_FIELDS else hits[:1]
        columns[name] = [(index, header) for _, index, header in keep]
    # "Name" + "Surname" (common in South Africa and Europe): "Name" is the first name.
    if "full_name" in columns and "last_name" in columns and "first_name" not in columns:
        columns["first_name"] = columns.pop("full_name")
    return _Mapping(columns=columns)
