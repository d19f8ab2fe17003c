"""How a category, tag or author name is compared: as a reader would read it.

Feeds and configurations spell one name many ways ("C++", "c++ ", "Ｃ＋＋",
"Développement  Web"); every comparison of names goes through `category_key`, so
that a filter, a content-warning category and a hashtag mapping agree on what
"the same name" means. The blog engines' catch-all categories are here too: the
configuration's default for `skip_categories`, which a run that composes nothing
reads without loading the hashtag patterns.
"""

from __future__ import annotations

import unicodedata

__all__ = ["DEFAULT_SKIPPED_CATEGORIES", "category_key"]

# WordPress's default category, "Uncategorized", as its translations name it, and a
# few other engines' catch-alls. Compared case-, accent- and space-insensitively.
DEFAULT_SKIPPED_CATEGORIES: frozenset[str] = frozenset(
    {
        "Uncategorized",
        "Uncategorised",
        "Non classé",
        "Non classe",
        "Non catégorisé",
        "Sans catégorie",
        "Sin categoría",
        "Sin categorizar",
        "Allgemein",
        "Senza categoria",
        "Sem categoria",
        "Geen categorie",
        "Ongecategoriseerd",
        "Без рубрики",
        "Без категории",
        "Без категорії",
        "Bez kategorii",
        "Bez kategorie",
        "Nezařazené",
        "Nezaradené",
        "未分类",
        "未分類",
        "미분류",
        "Okategoriserade",
        "Okategoriserad",
        "Ukategorisert",
        "Ikke kategoriseret",
        "Luokittelematon",
        "Kategorizálatlan",
        "Egyéb",
        "Necategorizat",
        "Fără categorie",
        "Χωρίς κατηγορία",
        "Sense categoria",
        "Sen categoría",
        "Kategoria gabea",
        "Nekategorizirano",
        "Nekategorizovano",
        "Nekategorisano",
        "Nekategorizirani",
        "Некатегоризирани",
        "Be kategorijos",
        "Bez kategorijas",
        "Kategoriseerimata",
        "Tak berkategori",
        "Tidak berkategori",
        "Chưa được phân loại",
        "ไม่มีหมวดหมู่",
        "غير مصنف",
        "بدون دسته‌بندی",
        "ללא קטגוריה",
        "Kategorisiz",
        "Kategorilenmemiş",
        "Flokkalaust",
        "Óflokkað",
    }
)


def category_key(name: str, *, hashtag: bool = False) -> str:
    """`name` with case, Unicode width and form, and spacing aside.

    With `hashtag`, a leading "#" is aside too: a hashtag mapping's "#Python" and a
    feed's "Python" are the same name.
    """
    key = unicodedata.normalize("NFKC", name).casefold()
    if hashtag:
        # NFKC has made a full-width "＃" a "#".
        key = key.strip().lstrip("#")
    return " ".join(key.split())
