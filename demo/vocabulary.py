"""The demo's vocabulary: the staff, places, industries, names, plans and the weights the CRM
generator (``demo.crm``) draws from. Data only."""

from dataclasses import dataclass

from crm.models import AcquisitionChannel, ActivityKind, SmsConsent

# username, first name, last name, team. Managers get the manager role, CSMs and AEs are agents.
STAFF: tuple[tuple[str, str, str, str], ...] = (
    ("olivia.manager", "Olivia", "Bennett", "manager"),
    ("marcus.manager", "Marcus", "Reyes", "manager"),
    ("maria.csm", "Maria", "Gonzalez", "csm"),
    ("dev.csm", "Dev", "Patel", "csm"),
    ("hannah.csm", "Hannah", "Kim", "csm"),
    ("tyler.csm", "Tyler", "Brooks", "csm"),
    ("aisha.csm", "Aisha", "Okafor", "csm"),
    ("jake.ae", "Jake", "Morrison", "ae"),
    ("priya.ae", "Priya", "Shah", "ae"),
    ("sam.ae", "Sam", "Whitaker", "ae"),
)

# Area code, city. Contact timezones come from the number (phonenumbers), account timezones
# from the area code of the head office.
AREA_CODES: tuple[tuple[int, str], ...] = (
    (212, "Manhattan"),
    (646, "Manhattan"),
    (718, "Brooklyn"),
    (917, "New York"),
    (312, "Chicago"),
    (773, "Chicago"),
    (415, "San Francisco"),
    (510, "Oakland"),
    (408, "San Jose"),
    (213, "Los Angeles"),
    (818, "Burbank"),
    (619, "San Diego"),
    (512, "Austin"),
    (737, "Austin"),
    (214, "Dallas"),
    (469, "Dallas"),
    (713, "Houston"),
    (832, "Houston"),
    (210, "San Antonio"),
    (617, "Boston"),
    (720, "Denver"),
    (303, "Denver"),
    (801, "Salt Lake"),
    (206, "Seattle"),
    (425, "Bellevue"),
    (503, "Portland"),
    (305, "Miami"),
    (404, "Atlanta"),
    (678, "Atlanta"),
    (602, "Phoenix"),
    (480, "Scottsdale"),
    (702, "Las Vegas"),
    (615, "Nashville"),
    (612, "Minneapolis"),
    (919, "Raleigh"),
    (704, "Charlotte"),
)


@dataclass(frozen=True)
class Industry:
    label: str
    nouns: tuple[str, ...]
    employees: tuple[int, int]


INDUSTRIES: tuple[Industry, ...] = (
    Industry("Dental", ("Dental", "Family Dentistry", "Smiles", "Orthodontics", "Dental Care"), (6, 40)),
    Industry("Fitness", ("Fitness", "Yoga", "Athletic Club", "Pilates", "Strength Co."), (5, 60)),
    Industry(
        "Home services", ("Plumbing", "HVAC", "Roofing", "Electric", "Landscaping", "Pest Control"), (8, 120)
    ),
    Industry(
        "Restaurants", ("Kitchen", "Bistro", "Coffee Roasters", "Taqueria", "Bakery", "Pizza"), (10, 150)
    ),
    Industry("Salon & spa", ("Salon", "Day Spa", "Barbershop", "Nail Studio", "Med Spa"), (4, 45)),
    Industry("Real estate", ("Realty", "Properties", "Home Group", "Property Management"), (5, 80)),
    Industry("Legal", ("Law Group", "Legal", "Law Partners"), (5, 70)),
    Industry("Retail & e-commerce", ("Outfitters", "Goods", "Supply Co.", "Boutique", "Apparel"), (5, 90)),
    Industry("Automotive", ("Auto Care", "Motors", "Collision Center", "Tire & Service"), (8, 110)),
    Industry(
        "Healthcare",
        ("Chiropractic", "Physical Therapy", "Veterinary Clinic", "Pediatrics", "Eye Care"),
        (8, 140),
    ),
    Industry("Education", ("Learning Center", "Tutoring", "Music Academy", "Driving School"), (5, 60)),
    Industry(
        "Professional services",
        ("Accounting", "CPA Group", "Insurance Agency", "Consulting", "Marketing"),
        (5, 90),
    ),
    Industry("Hospitality", ("Inn", "Hotel Group", "Event Center", "Brewing Co.", "Winery"), (10, 200)),
)

NAME_PREFIXES: tuple[str, ...] = (
    "Summit", "Harbor", "Maple", "Cedar", "Granite", "Lakeside", "Redwood", "Bluebird",
    "Northstar", "Riverbend", "Oak Street", "Pinecrest", "Silver Lake", "Bayview", "Ironwood",
    "Evergreen", "Brightside", "Copper", "Highland", "Meadowbrook", "Sunset", "Willow", "Juniper",
    "Magnolia", "Prairie", "Canyon", "Coastal", "Hometown", "Main Street", "Union", "Liberty",
    "Pioneer", "Keystone", "Beacon", "Compass", "Anchor", "Crescent", "Driftwood", "Fairview",
    "Hillcrest", "Lantern", "Mesa", "Orchard", "Parkside", "Ridgeline", "Stonebridge", "Tidewater",
    "Westgate", "Wildflower", "Birch", "Clearwater", "Greenleaf", "Horizon", "Aspen", "True North",
    "Blue Heron", "Golden Hour", "Red Barn", "Two Rivers", "Old Town", "Foxtail", "Sparrow",
)  # fmt: skip
NAME_SUFFIXES: tuple[tuple[str, int], ...] = (
    ("", 70),
    (" LLC", 12),
    (" Inc.", 8),
    (" & Co.", 4),
    (" Group", 6),
)

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Christopher", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark",
    "Ashley", "Steven", "Emily", "Andrew", "Michelle", "Joshua", "Amanda", "Kevin", "Melissa",
    "Brian", "Stephanie", "Ryan", "Rebecca", "Jacob", "Laura", "Nicole", "Gary", "Carlos", "Sofia",
    "Luis", "Camila", "Wei", "Mei", "Arjun", "Ananya", "Omar", "Fatima", "Kwame", "Amara", "Diego",
    "Valentina", "Hiroshi", "Yuki", "Noah", "Emma", "Liam", "Olivia", "Ethan", "Ava", "Mason",
    "Isabella", "Logan", "Mia", "Lucas", "Harper", "Grace", "Chloe", "Zoe", "Nathan", "Tyrone",
    "Jasmine", "Marcus", "Keisha", "Connor", "Megan", "Tessa", "Rafael", "Elena", "Ivan", "Nadia",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres",
    "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
    "Mitchell", "Carter", "Roberts", "Chen", "Wang", "Kim", "Park", "Singh", "Patel", "Shah",
    "O'Brien", "Murphy", "Sullivan", "Kowalski", "Novak", "Schmidt", "Fischer", "Rossi", "Russo",
    "Okafor", "Mensah", "Haddad", "Nakamura", "Tanaka", "Cohen", "Levy", "Bennett", "Foster",
    "Hayes", "Price", "Reed", "Brooks", "Ward", "Morgan", "Bell", "Cooper", "Howard", "Jenkins",
)  # fmt: skip
TITLES: tuple[str, ...] = (
    "Owner", "Office Manager", "Marketing Manager", "Operations Director", "General Manager",
    "Practice Manager", "Founder", "Head of Growth", "Front Desk Lead", "Customer Experience Lead",
    "Bookkeeper", "Store Manager",
)  # fmt: skip
B2C_EMAIL_DOMAINS: tuple[tuple[str, int], ...] = (
    ("gmail.com", 55),
    ("yahoo.com", 15),
    ("outlook.com", 12),
    ("icloud.com", 12),
    ("hotmail.com", 6),
)

# plan: (min seats, max seats, list price per seat per year)
PLANS: dict[str, tuple[int, int, int]] = {
    "starter": (3, 10, 300),
    "growth": (10, 30, 480),
    "pro": (25, 80, 780),
    "enterprise": (60, 150, 1020),
}
PLAN_ORDER = ("starter", "growth", "pro", "enterprise")
PLAN_WEIGHTS = (("starter", 40), ("growth", 35), ("pro", 18), ("enterprise", 7))
CONTACTS_PER_PLAN = {"starter": (2, 3), "growth": (2, 4), "pro": (3, 4), "enterprise": (4, 6)}
LOGINS_PER_DAY = {"starter": 0.55, "growth": 0.85, "pro": 1.2, "enterprise": 1.6}

CHANNEL_WEIGHTS = (
    (AcquisitionChannel.ORGANIC, 25),
    (AcquisitionChannel.PAID, 25),
    (AcquisitionChannel.REFERRAL, 15),
    (AcquisitionChannel.EMAIL, 15),
    (AcquisitionChannel.SMS, 10),
    (AcquisitionChannel.OTHER, 10),
)
B2C_CHANNEL_WEIGHTS = (
    (AcquisitionChannel.SMS, 30),
    (AcquisitionChannel.EMAIL, 25),
    (AcquisitionChannel.PAID, 20),
    (AcquisitionChannel.ORGANIC, 15),
    (AcquisitionChannel.REFERRAL, 7),
    (AcquisitionChannel.OTHER, 3),
)
# CAC range in dollars by channel, scaled by plan (bigger plans take a sales cycle). B2B SaaS
# typically spends most of a first year's contract value to win a customer, so LTV:CAC lands
# between about 2:1 (paid) and well over 5:1 (referral), as the analytics bands expect.
CAC_RANGES = {
    AcquisitionChannel.SMS: (3000, 9000),
    AcquisitionChannel.EMAIL: (2500, 8000),
    AcquisitionChannel.PAID: (12000, 35000),
    AcquisitionChannel.REFERRAL: (1500, 6000),
    AcquisitionChannel.ORGANIC: (2000, 7000),
    AcquisitionChannel.OTHER: (4000, 15000),
}
CAC_PLAN_FACTOR = {"starter": 0.6, "growth": 1.0, "pro": 1.8, "enterprise": 3.5}
# Renewal outcomes; referral customers churn less, paid ones more (about 8% overall).
CHURN_BY_CHANNEL = {AcquisitionChannel.REFERRAL: 5, AcquisitionChannel.PAID: 11}
CONSENT_WEIGHTS = ((SmsConsent.UNKNOWN, 72), (SmsConsent.OPTED_IN, 25), (SmsConsent.OPTED_OUT, 3))
B2C_CONSENT_WEIGHTS = ((SmsConsent.UNKNOWN, 58), (SmsConsent.OPTED_IN, 38), (SmsConsent.OPTED_OUT, 4))

PHONE_FORMATS = (
    "({a}) {e}-{l}",
    "{a}.{e}.{l}",
    "+1 {a} {e} {l}",
    "{a}-{e}-{l}",
    "{a}{e}{l}",
    "1-{a}-{e}-{l}",
)
INTEGRATIONS = ("shopify", "square", "mindbody", "google_calendar", "quickbooks", "hubspot", "zapier")
REPORTS = ("campaign_performance", "delivery", "revenue_attribution", "audience_growth", "replies")
GATED_FEATURES = ("advanced_segments", "ab_testing", "multi_location", "api_access", "custom_roles")
CHURN_REASONS = ("price", "switched_competitor", "business_closed", "low_usage", "champion_left")

OPEN_NEXT_STEPS = (
    ("Intro call with the owner", "Qualify budget and timeline", "Confirm SMS volume and use cases"),
    ("Demo of segments and automations", "Map current workflow", "Loop in ops manager for requirements"),
    ("Send proposal with seat pricing", "Review proposal with decision-maker", "Share ROI model"),
    ("Finalize order form", "Legal review of MSA redlines", "Confirm start date and seat count"),
)
TOUCHES = {
    ActivityKind.EMAIL: (
        "Sent monthly usage summary",
        "Shared best practices for appointment reminders",
        "Followed up on feature request",
        "Sent holiday campaign ideas",
        "Answered billing question",
    ),
    ActivityKind.CALL: (
        "Check-in call: campaigns running smoothly",
        "Call about integration errors, resolved",
        "Left voicemail about onboarding progress",
        "Walked through the reporting dashboard",
        "Discussed seat usage and upcoming hires",
    ),
    ActivityKind.MEETING: (
        "Quarterly business review",
        "Workflow review with the ops team",
        "Executive sponsor sync",
        "Roadmap preview",
    ),
    ActivityKind.NOTE: (
        "Prefers text over email for quick questions",
        "Budget cycle resets in January",
        "Wants order sync with their storefront",
        "Multi-location rollout planned next quarter",
        "Sensitive to price increases, flag before renewal",
    ),
}
RISK_TOUCHES = (
    (ActivityKind.NOTE, "Champion left the company; finding a new sponsor"),
    (ActivityKind.NOTE, "Usage down since last month"),
    (ActivityKind.CALL, "Call about declining logins; they are short-staffed"),
    (ActivityKind.EMAIL, "Sent re-onboarding offer"),
    (ActivityKind.NOTE, "Mentioned evaluating a cheaper competitor"),
)
B2C_TOUCHES = (
    (ActivityKind.EMAIL, "Answered question about order status"),
    (ActivityKind.EMAIL, "Sent return label"),
    (ActivityKind.NOTE, "Asked to be told about restocks"),
    (ActivityKind.CALL, "Resolved a double charge"),
)
