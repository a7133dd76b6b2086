"""What students read, in the course's language (course.toml `language`).

Instructor-facing text (logs, CLI help, config errors) stays in English.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Callable
from zoneinfo import ZoneInfo

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
        "run.flood": "the notebook's output took the grader past {limit} MB of memory at once{where}: print less "
                     "(the grader keeps at most 2 MB of a run's output anyway)",
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
        "pred.logits": "{count} of those rows look like scores (logits), not probabilities: values below 0 or "
                       "above 1; did you forget the softmax? (torch.softmax(logits, dim=1))",
        "pred.renormalised": "warning: the probabilities of {count} rows summed to 1 only within the rounding "
                             "of the digits written; they were scaled to sum to 1. Write them with significant "
                             "digits (float_format=\"%.7g\")",
        "pred.prob_columns": "probability columns given, but {missing} is missing: give one p_<class> column per class",
        "pred.prob_needed": "this assignment is scored on probabilities: add the columns {first} ... {last}",
        "hint.prefix": "Hint: {hint}",
        "hint.colab": "google.colab (drive.mount) only exists in Colab: remove that cell and read the data from "
                      "data_dir, which the grader fills in.",
        "hint.package": "the grader has no package {package}; it offers {offered}. Use those, or remove the import.",
        "hint.package_course": "the course's environment has no package {package}: it has {offered} (and what "
                               "they depend on). Use those, or remove the import.",
        "hint.package_declared": "the course's environment should have {package}, but the grader could not import "
                                 "it: this is not your notebook's fault; tell your instructor.",
        "hint.device": "do not set device yourself: use the device parameter the grader passes (\"cpu\" when there "
                       "is no GPU), e.g. model.to(device).",
        "hint.network": "the grader has no internet: no download=True, no pretrained weights from the internet; "
                        "read everything from data_dir.",
        "hint.paths": "the paths of your computer or of Colab do not exist in the grader: build every path from "
                      "data_dir, test_dir and output_dir.",
        "hint.read_only": "data_dir and test_dir are read-only: write only to output_dir (or /tmp).",
        "hint.output_full": "the grader gives output_dir at most {output_mb} MB and /tmp at most {tmp_mb} MB (the "
                            "assignment's README says so): write only predictions.csv and small files, and keep "
                            "checkpoints in memory.",
        "check.output_over": "output_dir holds {size_mb} MB after the run: the grader gives it at most {output_mb} MB, "
                             "so this notebook would fail there. Write only predictions.csv and small files.",
        "hint.header": "the first line must be id,label (and p_<class> columns), not {header}: this is not "
                       "Kaggle's format.",
        "hint.extension": "write the ids without their file extension (Path(name).stem), as test_dir lists them.",
        "hint.row_numbers": "the ids look like row numbers: write the test's own ids (test_dir's id array, file "
                            "names, prompt ids or test.csv's id column) in the id column, as you read them.",
        "hint.labels": "a label is a class index 0-{last} or one of these names, exactly as in classes.txt: "
                       "{classes}.",
        "check.title": "Self-check of {notebook} for '{assignment}' (smoke mode, public validation split)",
        "check.valid_notebook": "the file is a valid notebook",
        "check.parameters": "it has a cell tagged 'parameters'",
        "check.no_parameters": "no cell tagged 'parameters': the grader still injects the parameters at the top, "
                               "but tag your defaults cell so they are replaced, not shadowed",
        "check.ran": "it ran from top to bottom in {seconds:.1f} s",
        "check.predictions": "output_dir/predictions.csv follows the contract",
        "check.score": "validation {metric}: {value:.4f}",
        "check.flagged": "the grader will flag this for the instructor's review (the grade does not change): {what}",
        "check.pass": "Your notebook honours the contract.",
        "check.no_environment": "the course's environment is not built on this machine: the notebook ran in the "
                                "grader's own Python, which may hold other packages (`grader env build` builds it)",
        "check.fail": "Your notebook does not honour the contract yet: fix the items marked ✗.",
        "grades.missing": "not handed in",
        "grades.rejected": "handed in {days} day(s) after the deadline: not accepted",
        "grades.pending": "not graded yet",
        "grades.graded": "{grade}",
        "grades.late": "{days} day(s) late, {penalty} points off",
        "grades.which_last": "the last of {n} submissions made on time counts",
        "grades.which_best": "the best of {n} submissions counts",
        "grades.counted": "counted",
        "grades.dropped": "not counted (the best {best} of {n} count)",
        "grades.final": "Final grade: {final}",
        "grades.final_rounded": "Final grade: {final} ({unrounded} rounded {how})",
        "grades.final_pending": "Final grade: pending",
        "grades.round_up": "up",
        "grades.round_nearest": "to the nearest",
        "grades.round_down": "down",
        "report.title": "Grades of {student}",
        "report.final": "Final grade",
        "report.why": "How it was computed",
        "report.submissions": "Submissions",
        "report.submitted": "submitted",
        "report.deadline": "deadline",
        "report.status": "result",
        "report.score": "score",
        "report.grade": "grade",
        "report.late": "days late",
        "report.notebook": "executed notebook",
        "report.none": "no submission",
        "report.insight": "What this run teaches",
        "report.runtime": "It ran in {seconds:.0f} s of its {budget:.0f} s budget ({share:.0%}).",
        "report.standing": "Where your score stands in the course (the leaderboard's split), with the baseline "
                           "and the reference.",
        "report.public_only": "Per class, on the public half of the hidden test set:",
        "report.class": "class",
        "report.accuracy": "accuracy",
        "report.items": "images",
        "report.confusion": "Confusion matrix on the public half: rows are the true classes, columns what your "
                            "model predicted.",
        "report.predicted": "predicted",
        "report.true": "true class",
        "report.you": "you",
        "report.group": "{name}: the best {best} of {n} count, averaged: {grade}",
        "flag.in_cell": "cell {cell}: {what}",
        "flag.cell_size": "{size} characters of code in one cell (limit {limit})",
        "flag.markdown_size": "a text cell of {size} characters (limit {limit})",
        "flag.long_literal": "a {form} literal of {size} characters (limit {limit})",
        "flag.literal_list": "a literal {form} of {size} constants (limit {limit})",
        "flag.literal_total": "{size} characters of string literals in the notebook (limit {limit})",
        "flag.long_comment": "a comment of {size} characters (limit {limit})",
        "flag.long_number": "a number literal of {size} characters (limit {limit})",
        "flag.compressed_literals": "{size} bytes of literals and comments in the notebook once compressed "
                                    "(limit {limit})",
        "flag.lookup": "far better on the items a public copy covers than on the canaries: accuracy {items} "
                       "against {canaries} on {n_canaries} canaries (p = {p_value:.1e}, margin {margin})",
        "flag.not_executed": "not executed: the notebook handed in has no outputs",
        "flag.claim_mismatch": "its outputs claim {metric} {claimed}, the grader's run scored {score} "
                               "(tolerance {tolerance}): \"{line}\"",
        "flag.above_validation": "test {metric} {score} is far above its own validation claim {validation} "
                                 "(gap over {gap})",
        "flag.fast_top": "a top grade ({grade}) from a run of {seconds} s (under {limit} s)",
        "flag.split_gap": "public and private halves far apart: {metric} {public} against {private} (over {gap})",
        "flag.similar": "{similarity:.0%} of its own code is also in {other}'s hand-in ({pair})",
        "flag.similar_archive": "{similarity:.0%} of its own code is also in {other} (archive)",
        "flag.non_deterministic": "a re-run (--verify) scored {metric} {rerun} against {score} "
                                  "(tolerance {tolerance}): the result depends on chance",
        "flag.form.text": "string",
        "flag.form.hex": "hex-like string",
        "flag.form.base64": "base64-like string",
        "flag.form.bytes": "bytes",
        "flag.form.list": "list",
        "flag.form.tuple": "tuple",
        "flag.form.set": "set",
        "flag.form.dict": "dict",
        "report.flags": "Flagged for the instructor's review (the grade is unchanged): {flags}",
        "board.title": "Leaderboards",
        "board.standing": "Course standing",
        "board.standing_rule": "Each pseudonym's rank on every assignment; ordered by the number of assignments "
                               "ranked, then by the mean percentile (100 = first).",
        "board.updated": "Updated {when}. Only pseudonyms or chosen nicknames are shown.",
        "board.assignment": "assignment",
        "board.metric": "metric",
        "board.ranked_by": "ranked on",
        "board.entries": "entries",
        "board.leader": "leader",
        "board.split_public": "public test split",
        "board.split_private": "private test split",
        "board.split_note_public": "Until the deadline the ranking uses the public half of the hidden test set; "
                                   "after it, the private half decides.",
        "board.split_note_private": "Final ranking: the private half of the hidden test set, scored on each "
                                    "student's submission with the best public score.",
        "board.deadline": "Deadline: {when}.",
        "board.rules": "Ranked by {metric} ({order} is better); ties go to the earlier submission.",
        "board.higher": "higher",
        "board.lower": "lower",
        "board.who": "pseudonym",
        "board.submissions": "submissions",
        "board.last": "last submission",
        "board.runtime": "runtime",
        "board.empty": "No scored submissions yet.",
        "board.plot_scores": "Distribution of the scores",
        "board.plot_progress": "Best score over time",
        "board.baseline": "baseline",
        "board.reference": "reference",
        "board.students": "students",
        "board.percentile": "mean percentile",
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
        "run.flood": "la salida del notebook llevó al corrector a más de {limit} MB de memoria de golpe{where}: "
                     "imprime menos (el corrector guarda como mucho 2 MB de la salida de una ejecución)",
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
        "pred.logits": "{count} de esas filas parecen puntuaciones (logits), no probabilidades: valores menores "
                       "que 0 o mayores que 1; ¿falta la softmax? (torch.softmax(logits, dim=1))",
        "pred.renormalised": "aviso: las probabilidades de {count} filas sumaban 1 solo dentro del redondeo de las "
                             "cifras escritas; se han escalado para que sumen 1. Escríbelas con cifras significativas "
                             "(float_format=\"%.7g\")",
        "pred.prob_columns": "hay columnas de probabilidad, pero falta {missing}: da una columna p_<clase> por clase",
        "pred.prob_needed": "esta práctica se puntúa con probabilidades: añade las columnas {first} ... {last}",
        "hint.prefix": "Pista: {hint}",
        "hint.colab": "google.colab (drive.mount) solo existe en Colab: quita esa celda y lee los datos de "
                      "data_dir, que rellena el corrector.",
        "hint.package": "el corrector no tiene el paquete {package}; tiene {offered}. Usa esos, o quita el import.",
        "hint.package_course": "el entorno del curso no tiene el paquete {package}: tiene {offered} (y lo que "
                               "estos necesitan). Usa esos, o quita el import.",
        "hint.package_declared": "el entorno del curso debería tener {package}, pero el corrector no pudo importarlo: "
                                 "no es culpa de tu notebook; avisa a tu profesor.",
        "hint.device": "no fijes device tú: usa el parámetro device que pasa el corrector (\"cpu\" cuando no hay "
                       "GPU), por ejemplo model.to(device).",
        "hint.network": "el corrector no tiene internet: nada de download=True ni de pesos preentrenados de "
                        "internet; lee todo de data_dir.",
        "hint.paths": "las rutas de tu ordenador o de Colab no existen en el corrector: construye todas las rutas "
                      "a partir de data_dir, test_dir y output_dir.",
        "hint.read_only": "data_dir y test_dir son de solo lectura: escribe solo en output_dir (o en /tmp).",
        "hint.output_full": "el corrector da a output_dir como mucho {output_mb} MB y a /tmp como mucho {tmp_mb} MB "
                            "(lo dice el README de la práctica): escribe solo predictions.csv y ficheros pequeños, y "
                            "guarda los checkpoints en memoria.",
        "check.output_over": "output_dir ocupa {size_mb} MB tras la ejecución: el corrector le da como mucho "
                             "{output_mb} MB, así que allí este notebook fallaría. Escribe solo predictions.csv y "
                             "ficheros pequeños.",
        "hint.header": "la primera línea debe ser id,label (y las columnas p_<clase>), no {header}: este no es el "
                       "formato de Kaggle.",
        "hint.extension": "escribe los ids sin la extensión del fichero (Path(nombre).stem), como aparecen en test_dir.",
        "hint.row_numbers": "los ids parecen números de fila: escribe en la columna id los ids del propio test (el "
                            "array id de test_dir, los nombres de fichero, los ids de los prompts o la columna id de "
                            "test.csv), tal cual los lees.",
        "hint.labels": "una etiqueta es un índice de clase 0-{last} o uno de estos nombres, tal cual están en "
                       "classes.txt: {classes}.",
        "check.title": "Autocomprobación de {notebook} para '{assignment}' (modo rápido, validación pública)",
        "check.valid_notebook": "el fichero es un notebook válido",
        "check.parameters": "tiene una celda etiquetada 'parameters'",
        "check.no_parameters": "no hay ninguna celda etiquetada 'parameters': el corrector inyecta igualmente los "
                               "parámetros al principio, pero etiqueta tu celda de valores por defecto",
        "check.ran": "se ejecutó de principio a fin en {seconds:.1f} s",
        "check.predictions": "output_dir/predictions.csv cumple el contrato",
        "check.score": "{metric} en validación: {value:.4f}",
        "check.flagged": "el corrector lo señalará al profesor para su revisión (la nota no cambia): {what}",
        "check.pass": "Tu notebook cumple el contrato.",
        "check.no_environment": "el entorno del curso no está construido en esta máquina: el notebook se ejecutó "
                                "con el Python del corrector, que puede tener otros paquetes (`grader env build` "
                                "lo construye)",
        "check.fail": "Tu notebook todavía no cumple el contrato: corrige los puntos marcados con ✗.",
        "grades.missing": "no entregada",
        "grades.rejected": "entregada {days} día(s) después del plazo: no se acepta",
        "grades.pending": "aún sin corregir",
        "grades.graded": "{grade}",
        "grades.late": "{days} día(s) de retraso, {penalty} puntos menos",
        "grades.which_last": "cuenta la última de {n} entregas hecha en plazo",
        "grades.which_best": "cuenta la mejor de {n} entregas",
        "grades.counted": "cuenta",
        "grades.dropped": "no cuenta (cuentan las {best} mejores de {n})",
        "grades.final": "Nota final: {final}",
        "grades.final_rounded": "Nota final: {final} ({unrounded} redondeada {how})",
        "grades.final_pending": "Nota final: pendiente",
        "grades.round_up": "hacia arriba",
        "grades.round_nearest": "al más cercano",
        "grades.round_down": "hacia abajo",
        "report.title": "Notas de {student}",
        "report.final": "Nota final",
        "report.why": "Cómo se ha calculado",
        "report.submissions": "Entregas",
        "report.submitted": "entregada",
        "report.deadline": "plazo",
        "report.status": "resultado",
        "report.score": "puntuación",
        "report.grade": "nota",
        "report.late": "días de retraso",
        "report.notebook": "notebook ejecutado",
        "report.none": "sin entrega",
        "report.insight": "Qué enseña esta ejecución",
        "report.runtime": "Se ejecutó en {seconds:.0f} s de sus {budget:.0f} s de presupuesto ({share:.0%}).",
        "report.standing": "Dónde queda tu puntuación en el curso (la parte de la clasificación), con la línea "
                           "base y la referencia.",
        "report.public_only": "Por clase, en la mitad pública del test oculto:",
        "report.class": "clase",
        "report.accuracy": "exactitud",
        "report.items": "imágenes",
        "report.confusion": "Matriz de confusión en la mitad pública: las filas son las clases reales y las "
                            "columnas lo que predijo tu modelo.",
        "report.predicted": "predicha",
        "report.true": "clase real",
        "report.you": "tú",
        "report.group": "{name}: cuentan las {best} mejores de {n}, promediadas: {grade}",
        "flag.in_cell": "celda {cell}: {what}",
        "flag.cell_size": "{size} caracteres de código en una celda (límite {limit})",
        "flag.markdown_size": "una celda de texto de {size} caracteres (límite {limit})",
        "flag.long_literal": "un literal ({form}) de {size} caracteres (límite {limit})",
        "flag.literal_list": "un literal ({form}) de {size} constantes (límite {limit})",
        "flag.literal_total": "{size} caracteres de literales de texto en el notebook (límite {limit})",
        "flag.long_comment": "un comentario de {size} caracteres (límite {limit})",
        "flag.long_number": "un literal numérico de {size} caracteres (límite {limit})",
        "flag.compressed_literals": "{size} bytes de literales y comentarios en el notebook una vez comprimidos "
                                    "(límite {limit})",
        "flag.lookup": "mucho mejor en los elementos que cubre una copia pública que en los canarios: exactitud "
                       "{items} frente a {canaries} en {n_canaries} canarios (p = {p_value:.1e}, margen {margin})",
        "flag.not_executed": "sin ejecutar: el notebook entregado no tiene salidas",
        "flag.claim_mismatch": "sus salidas dicen {metric} {claimed}, la ejecución del corrector dio {score} "
                               "(tolerancia {tolerance}): \"{line}\"",
        "flag.above_validation": "{metric} en test {score}, muy por encima de su propia validación {validation} "
                                 "(diferencia mayor que {gap})",
        "flag.fast_top": "una nota máxima ({grade}) de una ejecución de {seconds} s (menos de {limit} s)",
        "flag.split_gap": "mitades pública y privada muy distintas: {metric} {public} frente a {private} "
                          "(más de {gap})",
        "flag.similar": "el {similarity:.0%} de su código propio está también en la entrega de {other} ({pair})",
        "flag.similar_archive": "el {similarity:.0%} de su código propio está también en {other} (archivo)",
        "flag.non_deterministic": "una nueva ejecución (--verify) dio {metric} {rerun} frente a {score} "
                                  "(tolerancia {tolerance}): el resultado depende del azar",
        "flag.form.text": "cadena",
        "flag.form.hex": "cadena hexadecimal",
        "flag.form.base64": "cadena tipo base64",
        "flag.form.bytes": "bytes",
        "flag.form.list": "lista",
        "flag.form.tuple": "tupla",
        "flag.form.set": "conjunto",
        "flag.form.dict": "diccionario",
        "report.flags": "Marcado para revisión por el profesor (la nota no cambia): {flags}",
        "board.title": "Clasificaciones",
        "board.standing": "Clasificación general",
        "board.standing_rule": "Puesto de cada seudónimo en cada práctica; ordenado por el número de prácticas "
                               "clasificadas y después por el percentil medio (100 = primero).",
        "board.updated": "Actualizado: {when}. Solo se muestran seudónimos o apodos elegidos.",
        "board.assignment": "práctica",
        "board.metric": "métrica",
        "board.ranked_by": "se clasifica con",
        "board.entries": "participantes",
        "board.leader": "primer puesto",
        "board.split_public": "parte pública del test",
        "board.split_private": "parte privada del test",
        "board.split_note_public": "Hasta el plazo la clasificación usa la mitad pública del conjunto de test "
                                   "oculto; después decide la mitad privada.",
        "board.split_note_private": "Clasificación final: la mitad privada del conjunto de test oculto, evaluada "
                                    "en la entrega de cada estudiante con mejor puntuación pública.",
        "board.deadline": "Plazo: {when}.",
        "board.rules": "Se ordena por {metric} (mejor cuanto más {order}); en un empate gana la entrega anterior.",
        "board.higher": "alto",
        "board.lower": "bajo",
        "board.who": "seudónimo",
        "board.submissions": "entregas",
        "board.last": "última entrega",
        "board.runtime": "tiempo de ejecución",
        "board.empty": "Todavía no hay entregas puntuadas.",
        "board.plot_scores": "Distribución de las puntuaciones",
        "board.plot_progress": "Mejor puntuación a lo largo del tiempo",
        "board.baseline": "línea base",
        "board.reference": "referencia",
        "board.students": "estudiantes",
        "board.percentile": "percentil medio",
    },
}


# How people of each language write a date and time; the zone's abbreviation follows.
TIME_FORMATS = {"es": "%d/%m/%Y %H:%M", "en": "%Y-%m-%d %H:%M"}
MONTH_NAMES = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
}
LONG_DATES = {"es": "{day} de {month} de {year} a las {time} (hora de {city})",
              "en": "{day} {month} {year} at {time} ({city} time)"}


def long_date(moment: datetime, language: str, timezone: str) -> str:
    """A deadline as a sentence says it: "15 de enero de 2027 a las 23:59 (hora de Madrid)"."""
    language = language if language in LONG_DATES else "en"
    return LONG_DATES[language].format(day=moment.day, month=MONTH_NAMES[language][moment.month - 1],
                                       year=moment.year, time=moment.strftime("%H:%M"),
                                       city=timezone.rsplit("/", 1)[-1].replace("_", " "))


def local_time(value: str | datetime | None, language: str, timezone: str) -> str:
    """A moment as the course's students read it: in the course's time zone and the language's format."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:  # the gradebook stores UTC
        moment = moment.replace(tzinfo=dt_timezone.utc)
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local.strftime(TIME_FORMATS.get(language, TIME_FORMATS['en']))} {local.tzname()}"


def translator(language: str) -> Translator:
    catalog = MESSAGES.get(language, MESSAGES["en"])

    def t(key: str, **params: object) -> str:
        if "n_classes" in params:
            params["n_classes_1"] = int(params["n_classes"]) - 1
        return catalog.get(key, MESSAGES["en"][key]).format(**params)

    return t
