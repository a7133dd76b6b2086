"""What students read, in the course's language (course.toml `language`).

Instructor-facing text (logs, CLI help, config errors) stays in English.
"""

from __future__ import annotations

from typing import Callable

Translator = Callable[..., str]

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "status.ok": "ok",
        "status.failed": "failed",
        "status.timeout": "time limit exceeded",
        "status.oom": "out of memory",
        "status.dead_kernel": "kernel died",
        "status.invalid_notebook": "invalid notebook",
        "status.invalid_predictions": "invalid predictions",
        "status.invalid_submission": "invalid submission",
        "status.error": "grader error",
        "run.failed": "cell {cell} raised {ename}: {evalue}",
        "run.timeout_wall": "the notebook ran past its time limit of {limit:.0f} s{where}",
        "run.timeout_cell": "cell {cell} ran past the per-cell limit of {limit:.0f} s",
        "run.where": " (it was in cell {cell})",
        "run.oom": "the notebook used more than {limit} MB of memory{where}",
        "run.dead_kernel": "the Python kernel died{where}: {detail}",
        "run.invalid_notebook": "{name} is not a valid notebook: {detail}",
        "run.two_notebooks": "more than one notebook handed in: {names}; hand in exactly one",
        "run.no_notebook": "no notebook (.ipynb) handed in",
        "pred.missing": "{name} was not written to output_dir",
        "pred.symlink": "{name} is a symbolic link; write a regular file",
        "pred.not_file": "{name} is not a regular file",
        "pred.too_big": "{name} is larger than {mb} MB",
        "pred.encoding": "not UTF-8 text ({detail})",
        "pred.empty": "the file is empty",
        "pred.header": "the first line must name the columns id,label (found: {header})",
        "pred.columns": "{count} rows have the wrong number of columns (lines {examples})",
        "pred.duplicate": "{count} ids appear more than once ({examples})",
        "pred.extra": "{count} rows have ids that are not in the test set ({examples})",
        "pred.missing_ids": "{count} test ids have no prediction ({examples})",
        "pred.nan": "{count} rows have an empty or NaN label (lines {examples})",
        "pred.unknown_label": "{count} rows have a label that is neither a class index 0-{n_classes_1} "
                              "nor a class name (line:label {examples})",
        "pred.bad_probs": "{count} rows have probabilities that are not numbers >= 0 summing to 1 (lines {examples})",
        "pred.prob_columns": "probability columns given, but {missing} is missing: give one p_<class> column per class",
        "check.title": "Self-check of {notebook} for '{assignment}' (smoke mode, public validation split)",
        "check.valid_notebook": "the file is a valid notebook",
        "check.parameters": "it has a cell tagged 'parameters'",
        "check.no_parameters": "no cell tagged 'parameters': the grader still injects the parameters at the top, "
                               "but tag your defaults cell so they are replaced, not shadowed",
        "check.ran": "it ran from top to bottom in {seconds:.1f} s",
        "check.predictions": "output_dir/predictions.csv follows the contract",
        "check.score": "validation {metric}: {value:.4f}",
        "check.pass": "Your notebook honours the contract.",
        "check.fail": "Your notebook does not honour the contract yet: fix the items marked ✗.",
    },
    "es": {
        "status.ok": "correcto",
        "status.failed": "error en la ejecución",
        "status.timeout": "tiempo límite superado",
        "status.oom": "memoria agotada",
        "status.dead_kernel": "el kernel murió",
        "status.invalid_notebook": "notebook no válido",
        "status.invalid_predictions": "predicciones no válidas",
        "status.invalid_submission": "entrega no válida",
        "status.error": "error del corrector",
        "run.failed": "la celda {cell} lanzó {ename}: {evalue}",
        "run.timeout_wall": "el notebook superó su tiempo límite de {limit:.0f} s{where}",
        "run.timeout_cell": "la celda {cell} superó el límite por celda de {limit:.0f} s",
        "run.where": " (estaba en la celda {cell})",
        "run.oom": "el notebook usó más de {limit} MB de memoria{where}",
        "run.dead_kernel": "el kernel de Python murió{where}: {detail}",
        "run.invalid_notebook": "{name} no es un notebook válido: {detail}",
        "run.two_notebooks": "se entregó más de un notebook: {names}; entrega exactamente uno",
        "run.no_notebook": "no se entregó ningún notebook (.ipynb)",
        "pred.missing": "no se escribió {name} en output_dir",
        "pred.symlink": "{name} es un enlace simbólico; escribe un fichero normal",
        "pred.not_file": "{name} no es un fichero normal",
        "pred.too_big": "{name} ocupa más de {mb} MB",
        "pred.encoding": "no es texto UTF-8 ({detail})",
        "pred.empty": "el fichero está vacío",
        "pred.header": "la primera línea debe nombrar las columnas id,label (se encontró: {header})",
        "pred.columns": "{count} filas tienen un número de columnas incorrecto (líneas {examples})",
        "pred.duplicate": "{count} ids aparecen más de una vez ({examples})",
        "pred.extra": "{count} filas tienen ids que no están en el conjunto de test ({examples})",
        "pred.missing_ids": "{count} ids del test no tienen predicción ({examples})",
        "pred.nan": "{count} filas tienen la etiqueta vacía o NaN (líneas {examples})",
        "pred.unknown_label": "{count} filas tienen una etiqueta que no es ni un índice de clase 0-{n_classes_1} "
                              "ni un nombre de clase (línea:etiqueta {examples})",
        "pred.bad_probs": "{count} filas tienen probabilidades que no son números >= 0 que sumen 1 (líneas {examples})",
        "pred.prob_columns": "hay columnas de probabilidad, pero falta {missing}: da una columna p_<clase> por clase",
        "check.title": "Autocomprobación de {notebook} para '{assignment}' (modo rápido, validación pública)",
        "check.valid_notebook": "el fichero es un notebook válido",
        "check.parameters": "tiene una celda etiquetada 'parameters'",
        "check.no_parameters": "no hay ninguna celda etiquetada 'parameters': el corrector inyecta igualmente los "
                               "parámetros al principio, pero etiqueta tu celda de valores por defecto",
        "check.ran": "se ejecutó de principio a fin en {seconds:.1f} s",
        "check.predictions": "output_dir/predictions.csv cumple el contrato",
        "check.score": "{metric} en validación: {value:.4f}",
        "check.pass": "Tu notebook cumple el contrato.",
        "check.fail": "Tu notebook todavía no cumple el contrato: corrige los puntos marcados con ✗.",
    },
}


def translator(language: str) -> Translator:
    catalog = MESSAGES.get(language, MESSAGES["en"])

    def t(key: str, **params: object) -> str:
        if "n_classes" in params:
            params["n_classes_1"] = int(params["n_classes"]) - 1
        return catalog.get(key, MESSAGES["en"][key]).format(**params)

    return t
