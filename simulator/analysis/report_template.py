"""The HTML of the report: one Jinja2 template, autoescaped.

Every string that reaches the page (scenario and variant names, descriptions,
the scenario text, the manifest) is escaped by the template engine, so a
scenario e-mailed from elsewhere cannot inject markup or script. Charts are
PNG data URIs: the page is one self-contained file.
"""

from __future__ import annotations

import jinja2

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1em;
       max-width: 60em; color: #1f2328; line-height: 1.4; }
h1 { font-size: 1.45em; margin: 0.3em 0; } h2 { font-size: 1.15em; margin-top: 1.8em;
  border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; } h3 { font-size: 1em; }
.meta, .note { color: #59636e; font-size: 0.85em; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11em, 1fr)); gap: 0.7em;
         margin: 1em 0; }
.card { border: 1px solid #d0d7de; border-radius: 8px; padding: 0.7em 0.9em; background: #f6f8fa; }
.card .label { font-size: 0.8em; color: #59636e; text-transform: uppercase; letter-spacing: 0.03em; }
.card .value { font-size: 1.6em; font-weight: 600; margin: 0.15em 0; font-variant-numeric: tabular-nums; }
.card .value.loss { color: #b42318; } .card .value.gain { color: #1a7f37; }
.card .detail { font-size: 0.8em; color: #424a53; }
ul.answer li { margin: 0.35em 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.85em; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #d8dee4; padding: 0.3em 0.55em; text-align: right; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; } td:first-child, th:first-child { text-align: left; }
table.words2 td:nth-child(2), table.words2 th:nth-child(2) { text-align: left; }
td .se { display: block; color: #6e7781; font-size: 0.85em; }
img { max-width: 100%; height: auto; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.78em; }
@media print { .card { break-inside: avoid; } img { break-inside: avoid; } }
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><style>{{ css | safe }}</style></head>
<body>
<h1>{{ title }}</h1>
<p class="meta">{{ meta }}</p>
{% if description %}<p>{{ description }}</p>{% endif %}

<h2>The answer: contract '{{ base }}', all segments</h2>
<div class="cards">
{% for card in cards %}<div class="card"><div class="label">{{ card.label }}</div>
<div class="value {{ card.tone }}">{{ card.value }}</div><div class="detail">{{ card.detail }}</div></div>
{% endfor %}</div>
<ul class="answer">{% for sentence in sentences %}<li>{{ sentence }}</li>{% endfor %}</ul>
<p class="note">{{ notes }}</p>

{% for table in tables %}
<h2>{{ table.title }}</h2>
{% if table.note %}<p class="note">{{ table.note }}</p>{% endif %}
<div class="scroll"><table class="{{ table.get('cls', '') }}">
<tr>{% for h in table.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in table.rows %}<tr>{% for cell in row %}<td>{% if cell is string %}{{ cell }}{% else %}{{ cell[0] }}<span class="se">{{ cell[1] }}</span>{% endif %}</td>{% endfor %}</tr>
{% endfor %}</table></div>
{% endfor %}

{{ sources }}
<h2>Charts</h2>
{% for chart in charts %}<p><img alt="{{ chart.alt }}" src="{{ chart.src }}"></p>{% endfor %}

<h2>Key assumptions</h2>
{% for table in assumptions %}
<h3>{{ table.title }}</h3>
{% if table.note %}<p class="note">{{ table.note }}</p>{% endif %}
<div class="scroll"><table class="{{ table.get('cls', '') }}">
<tr>{% for h in table.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in table.rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table></div>
{% endfor %}

<h2>Manifest</h2>
<pre>{{ manifest }}</pre>
<details><summary>Scenario file (sha256 {{ sha256 }}...)</summary><pre>{{ scenario_text }}</pre></details>
</body></html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def render(**context) -> str:
    """The report page for ``context`` (see ``analysis.report``); every string is escaped."""
    return _ENV.from_string(PAGE).render(css=CSS, **context)
