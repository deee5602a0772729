"""Phrase lists for Amazon-shaped titles and eBay title habits (data only)."""

from __future__ import annotations

# "with ..." and "for ..." phrases per profile: the filler real Amazon titles carry.
WITH_PHRASES = {
    "electronics": (
        "with Charging Case",
        "with Built-in Microphone",
        "with LED Display",
        "with USB-C Cable",
        "with Carrying Pouch",
        "with Deep Bass",
        "with App Control",
    ),
    "home": (
        "with Lid",
        "with Removable Basket",
        "with Non-Slip Base",
        "with Handles",
        "with Timer",
        "with Recipe Book",
        "with Storage Bag",
    ),
    "beauty": (
        "with Vitamin E",
        "with Aloe Vera",
        "with Travel Case",
        "with Natural Ingredients",
        "with 3 Brush Heads",
        "with Biotin",
    ),
    "toys": (
        "with Storage Box",
        "with Sound and Lights",
        "with Carry Case",
        "with 2 Batteries",
        "with Stickers",
    ),
    "clothing": (
        "with Pockets",
        "with Zipper",
        "with Adjustable Strap",
        "with Hood",
        "with Elastic Waistband",
    ),
    "sports": (
        "with Carry Bag",
        "with Straw Lid",
        "with Door Anchor",
        "with Storage Pouch",
        "with Handles",
    ),
    "pets": ("with Leash", "with Storage Basket", "with Suction Cups", "with Dispenser"),
    "grocery": ("with Sea Salt", "with Natural Flavors", "with Resealable Bag"),
    "office": ("with Storage Case", "with Eraser", "with Clip", "with Ruler"),
    "tools": (
        "with LED Light",
        "with Storage Case",
        "with 2 Batteries",
        "with Digital Display",
        "with Carry Bag",
    ),
    "music": ("with Carrying Case", "with Picks", "with Stand", "with USB Cable"),
    "garden": ("with Stakes", "with Remote", "with 8 Spray Patterns", "with Hanging Hooks"),
    "books": (),
}
FOR_PHRASES = {
    "electronics": (
        "for iPhone and Android",
        "for Home Office",
        "for Laptop PC Mac",
        "for Gaming and Music",
        "for Travel",
        "for Car and Home",
    ),
    "home": (
        "for Kitchen",
        "for Bedroom Living Room",
        "for Home and Office",
        "for Countertop",
        "for Family Dinner",
    ),
    "beauty": (
        "for Women and Men",
        "for Face and Body",
        "for Sensitive Skin",
        "for Adults",
        "for Daily Use",
    ),
    "toys": ("for Kids 3-8", "for Toddlers 1-3", "for Boys and Girls", "for Birthday Party"),
    "clothing": ("for Women", "for Men", "for Workout Casual", "for Travel", "for Everyday Wear"),
    "sports": ("for Home Gym", "for Hiking Camping", "for Men and Women", "for Outdoor Sports"),
    "pets": ("for Dogs", "for Cats", "for Puppy and Kitten", "for Indoor Cats"),
    "grocery": ("for Snacking", "for Breakfast", "for Office Pantry"),
    "office": ("for School Office", "for Adults and Kids", "for Journaling", "for Artists"),
    "tools": ("for Car SUV Truck", "for Home DIY", "for Garage", "for Most Vehicles"),
    "music": ("for Beginners and Kids", "for Recording Studio", "for Live Performance"),
    "garden": ("for Patio Yard Lawn", "for Outdoor Garden", "for Indoor Plants"),
    "books": (),
}
# Common features any profile's title may carry (look-alikes share them too).
COMMON_FEATURES = (
    "Upgraded",
    "2025 Version",
    "Premium",
    "Durable",
    "Easy to Use",
    "Gift Idea",
    "Compact Design",
)
COLOURS = (
    "Black",
    "White",
    "Grey",
    "Blue",
    "Red",
    "Green",
    "Pink",
    "Beige",
    "Navy",
    "Silver",
    "Purple",
    "Brown",
)
SIZES = (
    "2 Pack",
    "3 Pack",
    "4 Pack",
    "Pack of 6",
    "Set of 2",
    "1 Count",
    "Large",
    "Medium",
    "Small",
    "12 oz",
    "16 oz",
    "24 Pcs",
)

# Words dropshippers drop when they strip filler, and the punctuation that goes with them.
FILLER_WORDS = frozenset({"with", "for", "and", "the", "of", "to", "in", "a", "&"})
PREFIXES = ("", "", "", "NEW ", "New ", "Brand New ", "🔥 ", "NEW - ", "HOT ")
SUFFIXES = (
    "",
    "",
    " Fast Free Shipping",
    " - Fast Free Shipping",
    " US Seller",
    " NEW",
    " | US Seller",
    " Free Shipping",
    " 🔥",
    " - Ships Fast",
)
# Ordinary sellers' short additions.
OWN_EXTRAS = ("", "", "", "New", "NIB", "Sealed", "Genuine", "OEM", "Authentic")
# Accessory listings ("other"): they name the product but are not it.
ACCESSORIES = (
    "Replacement Case for",
    "Protective Cover for",
    "Storage Bag for",
    "Replacement Parts for",
    "Mount Holder for",
    "Screen Cover for",
    "Carrying Pouch for",
    "Replacement Filter for",
    "Skin Decal for",
)
BOOK_SUBTITLES = (
    "A Novel",
    "A Memoir",
    "A Thriller",
    "Stories",
    "A Cookbook",
    "An Easy and Proven Way to Build Good Habits",
    "Lessons for a Better Life",
    "A Guide for Beginners",
    "The Complete Collection",
    "Book 2 of the Series",
)
BOOK_FORMATS = (
    "Paperback",
    "Hardcover",
    "Kindle Edition",
    "Audio CD",
    "Large Print",
    "Blu-ray",
    "Vinyl LP",
    "Deluxe Edition",
    "Collector's Edition",
)
BOOK_AUTHORS = (
    "by Emma Hart",
    "by James Calder",
    "by R. K. Lowell",
    "by Nina Ortega",
    "by Samuel West",
)
